// chartcheck renders the switchboard Helm chart the way `helm template`
// does and checks the result, without helm, a cluster or the network:
//
//	chartcheck [--chart=DIR] [-f VALUES]... [--release=NAME]
//	    [--version_file=VERSION] [--bin_dir=DIR] [--out=DIR]
//	    [--compare_dir=DIR] [--expect_fail=SUBSTRING] [--notes]
//
// It loads Chart.yaml and values.yaml, merges the -f files over them
// (helm's semantics: maps key by key, null deletes a default), validates
// the result against values.schema.json, renders every template with
// helm's functions, checks the manifests' structure (names, selectors,
// ports, probes, security contexts, volumes, config checksums, Chart.yaml
// against VERSION), and runs each service's config through the real binary
// (`<bin_dir>/<binary> --config FILE --check_config`). One line per check,
// PASS or FAIL, then a summary; exit status 0 when nothing failed.
//
// --expect_fail=SUBSTRING inverts it: success only if the values are
// refused (schema) or rendering fails (fail, required, a template error)
// with a message containing SUBSTRING.
//
// Build (Debian's golang-go, GOPATH mode; no module download):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o chartcheck ./tools/chartcheck/*.go
package main

import (
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"strings"

	"github.com/Masterminds/semver"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// report collects the PASS/FAIL lines.
type report struct {
	passed, failed int
}

func (r *report) pass(what string) {
	r.passed++
	fmt.Printf("PASS  %s\n", what)
}

func (r *report) fail(what, why string) {
	r.failed++
	fmt.Printf("FAIL  %s: %s\n", what, strings.ReplaceAll(strings.TrimSpace(why), "\n", "\n      "))
}

func (r *report) check(what string, err error) {
	if err != nil {
		r.fail(what, err.Error())
	} else {
		r.pass(what)
	}
}

func main() {
	var valueFiles stringList
	chartDir := flag.String("chart", "deploy/helm/switchboard", "the chart's directory")
	flag.Var(&valueFiles, "f", "a values file merged over values.yaml (repeatable, later wins)")
	release := flag.String("release", "switchboard", ".Release.Name")
	namespace := flag.String("namespace", "default", ".Release.Namespace")
	kubeVersion := flag.String("kube_version", "v1.29.0", ".Capabilities.KubeVersion (checked against Chart.yaml kubeVersion)")
	versionFile := flag.String("version_file", "", "the repository's VERSION file: Chart.yaml appVersion must equal it")
	binDir := flag.String("bin_dir", "", "directory holding broadcaster, consumer and mq-bridge: each config is checked with --check_config (\"\" skips it)")
	out := flag.String("out", "", "write the rendered manifests here, as helm template --output-dir does")
	compareDir := flag.String("compare_dir", "", "compare the rendered objects with the *.yaml under this directory (e.g. helm template --output-dir)")
	expectFail := flag.String("expect_fail", "", "succeed only if the values are refused or rendering fails with a message containing this")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "chartcheck: unexpected argument %q (values files go after -f)\n", flag.Arg(0))
		os.Exit(2)
	}
	label := "defaults"
	if len(valueFiles) > 0 {
		label = strings.Join(valueFiles, " + ")
	}
	fmt.Printf("== chartcheck %s with %s (release %q)\n", *chartDir, label, *release)
	r := &report{}
	os.Exit(run(r, options{
		chartDir: *chartDir, valueFiles: valueFiles, release: *release,
		namespace: *namespace, kubeVersion: *kubeVersion, versionFile: *versionFile,
		binDir: *binDir, out: *out, compareDir: *compareDir, expectFail: *expectFail,
		notes: *notes, label: label,
	}))
}

type options struct {
	chartDir, release, namespace, kubeVersion, versionFile string
	binDir, out, compareDir, expectFail, label             string
	valueFiles                                             []string
	notes                                                  bool
}

func summary(r *report, label string) int {
	fmt.Printf("== %d passed, %d failed (%s)\n", r.passed, r.failed, label)
	if r.failed > 0 {
		return 1
	}
	return 0
}

// refused handles a failure of the values or of rendering: the expected
// outcome with --expect_fail, else a FAIL.
func refused(r *report, o options, stage string, err error) int {
	if o.expectFail == "" {
		r.fail(stage, err.Error())
		return summary(r, o.label)
	}
	if strings.Contains(err.Error(), o.expectFail) {
		r.pass(fmt.Sprintf("%s failed as expected (%q):\n      %s", stage, o.expectFail,
			strings.ReplaceAll(err.Error(), "\n", "\n      ")))
		return summary(r, o.label)
	}
	r.fail(stage+" failed, but not with "+fmt.Sprintf("%q", o.expectFail), err.Error())
	return summary(r, o.label)
}

func run(r *report, o options) int {
	// helm's rule for release names (they end up in labels and names).
	if len(o.release) > 53 || !dns1123Subdomain.MatchString(o.release) {
		r.fail("release name", fmt.Sprintf("%q: helm takes at most 53 characters, a DNS-1123 subdomain", o.release))
		return summary(r, o.label)
	}
	chart, err := loadChart(o.chartDir)
	if err != nil {
		r.fail("load chart", err.Error())
		return summary(r, o.label)
	}
	checkChartMeta(r, chart, o)
	if chart.Schema != nil {
		r.check("values.schema.json is a valid JSON schema", checkSchemaItself(chart.Schema))
	}
	user, err := userValues(o.valueFiles)
	if err != nil {
		r.fail("read values", err.Error())
		return summary(r, o.label)
	}
	values, warnings := coalesce(chart.Values, user)
	for _, w := range warnings {
		fmt.Println("      " + w)
	}
	if err := validateValues(chart.Meta.Name, chart.Schema, values); err != nil {
		return refused(r, o, "values against values.schema.json", err)
	}
	r.pass("values against values.schema.json")
	kv, _ := semver.NewVersion(o.kubeVersion)
	caps := Capabilities{
		KubeVersion: KubeVersion{Version: o.kubeVersion},
		APIVersions: defaultAPIVersions,
		HelmVersion: map[string]string{"version": "v3-chartcheck"},
	}
	if kv != nil {
		caps.KubeVersion.Major = fmt.Sprint(kv.Major())
		caps.KubeVersion.Minor = fmt.Sprint(kv.Minor())
	}
	rendered, err := render(chart, values, Release{
		Name: o.release, Namespace: o.namespace, Revision: 1, IsInstall: true, Service: "Helm",
	}, caps)
	if err != nil {
		return refused(r, o, "render templates", err)
	}
	manifests, err := parseManifests(rendered)
	if err != nil {
		return refused(r, o, "parse rendered manifests", err)
	}
	if o.expectFail != "" {
		r.fail("expected a failure containing "+fmt.Sprintf("%q", o.expectFail),
			fmt.Sprintf("the values passed the schema and rendered %d objects", len(manifests)))
		return summary(r, o.label)
	}
	r.pass(fmt.Sprintf("render templates (%d objects)", len(manifests)))
	if o.notes {
		for name, text := range rendered {
			if strings.HasSuffix(name, "NOTES.txt") {
				fmt.Printf("---- %s\n%s\n----\n", name, text)
			}
		}
	}
	for name, text := range rendered {
		if strings.HasSuffix(name, "NOTES.txt") && strings.TrimSpace(text) == "" {
			r.fail("NOTES.txt", "renders empty")
		}
	}
	if o.out != "" {
		r.check("write manifests to "+o.out, writeManifests(o.out, manifests))
	}
	if o.compareDir != "" {
		compareObjects(r, manifests, o.compareDir)
	}
	ix := checkManifests(r, manifests, values)
	if o.binDir != "" {
		checkConfigs(r, ix, o.binDir)
	} else {
		fmt.Println("SKIP  configs through the binaries (no --bin_dir)")
	}
	return summary(r, o.label)
}

// checkChartMeta checks Chart.yaml: apiVersion v2, a SemVer version,
// appVersion equal to the VERSION file, kubeVersion satisfied by
// --kube_version.
func checkChartMeta(r *report, c *Chart, o options) {
	m := c.Meta
	if m.APIVersion != "v2" {
		r.fail("Chart.yaml apiVersion", fmt.Sprintf("%q, want v2", m.APIVersion))
	} else {
		r.pass("Chart.yaml apiVersion v2")
	}
	if _, err := semver.StrictNewVersion(m.Version); err != nil {
		r.fail("Chart.yaml version", fmt.Sprintf("%q is not SemVer 2: %v", m.Version, err))
	} else {
		r.pass("Chart.yaml version " + m.Version + " is SemVer")
	}
	if m.Type != "" && m.Type != "application" && m.Type != "library" {
		r.fail("Chart.yaml type", fmt.Sprintf("%q, want application or library", m.Type))
	}
	if o.versionFile != "" {
		data, err := ioutil.ReadFile(o.versionFile)
		switch {
		case err != nil:
			r.fail("Chart.yaml appVersion against "+o.versionFile, err.Error())
		case strings.TrimSpace(string(data)) != m.AppVersion:
			r.fail("Chart.yaml appVersion against "+o.versionFile,
				fmt.Sprintf("appVersion %q, VERSION %q", m.AppVersion, strings.TrimSpace(string(data))))
		default:
			r.pass(fmt.Sprintf("Chart.yaml appVersion %q equals %s", m.AppVersion, o.versionFile))
		}
	}
	if m.KubeVersion != "" {
		constraint, err := semver.NewConstraint(m.KubeVersion)
		if err != nil {
			r.fail("Chart.yaml kubeVersion", err.Error())
			return
		}
		v, err := semver.NewVersion(o.kubeVersion)
		if err != nil {
			r.fail("--kube_version", err.Error())
			return
		}
		if !constraint.Check(v) {
			r.fail("Chart.yaml kubeVersion", fmt.Sprintf("%s is incompatible with Kubernetes %s", m.KubeVersion, o.kubeVersion))
		} else {
			r.pass(fmt.Sprintf("Chart.yaml kubeVersion %q admits %s", m.KubeVersion, o.kubeVersion))
		}
	}
}

// The API versions .Capabilities.APIVersions.Has knows (a cluster of
// --kube_version's era), with and without kinds.
var defaultAPIVersions = VersionSet{
	"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v1", "autoscaling/v2",
	"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "storage.k8s.io/v1",
	"v1/ConfigMap", "v1/Secret", "v1/Service", "v1/ServiceAccount", "v1/Pod",
	"v1/PersistentVolumeClaim", "apps/v1/Deployment", "apps/v1/StatefulSet",
	"policy/v1/PodDisruptionBudget", "autoscaling/v2/HorizontalPodAutoscaler",
	"networking.k8s.io/v1/NetworkPolicy",
}
