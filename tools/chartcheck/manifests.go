package main

// The rendered files as helm turns them into a release: split into YAML
// documents, each parsed (apiVersion, kind, metadata), hooks (helm.sh/hook)
// apart, sorted by kind in helm's install order, and written the way
// `helm template --output-dir` writes them.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Manifest is one rendered YAML document.
type Manifest struct {
	Source  string                 // the template's name
	Index   int                    // its position in the file
	Content string                 // the document's text
	Obj     map[string]interface{} // parsed
	Kind    string
	Name    string
	Hook    bool
}

// The install order of helm's releaseutil.InstallOrder.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret",
	"SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
	"PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
	"RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
	"ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass",
	"Ingress", "APIService",
}

var docSeparator = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// splitManifests is helm's releaseutil.SplitManifests.
func splitManifests(text string) []string {
	var out []string
	for _, d := range docSeparator.Split(strings.TrimSpace(text), -1) {
		if d == "" {
			continue
		}
		out = append(out, strings.TrimSpace(d))
	}
	return out
}

// parseManifests splits and parses every rendered file but NOTES.txt, in
// helm's order: by kind (install order; unknown kinds last, by name), then
// by file and position.
func parseManifests(files map[string]string) ([]*Manifest, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") || strings.TrimSpace(files[name]) == "" {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*Manifest
	for _, name := range names {
		for i, doc := range splitManifests(files[name]) {
			// helm writes each document followed by a newline into the
			// release manifest it sends, so a final block scalar keeps it.
			v, err := parseYAML([]byte(doc + "\n"))
			if err != nil {
				return nil, fmt.Errorf("YAML parse error on %s: %v", name, err)
			}
			m := &Manifest{Source: name, Index: i, Content: doc}
			if v == nil {
				// A document of comments only: kept, as helm keeps it.
				out = append(out, m)
				continue
			}
			obj, ok := v.(map[string]interface{})
			if !ok {
				return nil, fmt.Errorf("YAML parse error on %s: a document is not a mapping", name)
			}
			m.Obj = obj
			m.Kind = str(obj, "kind")
			m.Name = str(obj, "metadata", "name")
			m.Hook = str(obj, "metadata", "annotations", "helm.sh/hook") != ""
			out = append(out, m)
		}
	}
	rank := map[string]int{}
	for i, k := range installOrder {
		rank[k] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, aok := rank[out[i].Kind]
		b, bok := rank[out[j].Kind]
		switch {
		case !aok && !bok:
			return out[i].Kind < out[j].Kind
		case !aok:
			return false
		case !bok:
			return true
		}
		return a < b
	})
	return out, nil
}

// writeManifests writes them as `helm template --output-dir DIR` does: one
// file per template under DIR/<chart>/templates/, each document preceded by
// "---" and a "# Source:" line.
func writeManifests(dir string, manifests []*Manifest) error {
	written := map[string]bool{}
	order := append([]*Manifest{}, manifests...)
	// Hooks come after the other manifests, as in helm's output.
	sort.SliceStable(order, func(i, j int) bool { return !order[i].Hook && order[j].Hook })
	for _, m := range order {
		file := filepath.Join(dir, filepath.FromSlash(m.Source))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return err
		}
		flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		if written[file] {
			flags = os.O_APPEND | os.O_WRONLY
		}
		f, err := os.OpenFile(file, flags, 0o644)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f, "---\n# Source: %s\n%s\n", m.Source, m.Content)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		written[file] = true
	}
	return nil
}

// readObjects parses every YAML document of the *.yaml files under dir,
// keyed by "Kind/name".
func readObjects(dir string) (map[string]map[string]interface{}, error) {
	out := map[string]map[string]interface{}{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		data, err := ioutil.ReadFile(p)
		if err != nil {
			return err
		}
		for _, doc := range splitManifests(string(data)) {
			v, err := parseYAML([]byte(doc + "\n"))
			if err != nil {
				return fmt.Errorf("%s: %v", p, err)
			}
			obj, ok := v.(map[string]interface{})
			if !ok {
				continue
			}
			out[str(obj, "kind")+"/"+str(obj, "metadata", "name")] = obj
		}
		return nil
	})
	return out, err
}

// compareObjects compares what chartcheck rendered with another renderer's
// output (helm's --output-dir), object by object, as parsed values.
func compareObjects(r *report, mine []*Manifest, dir string) {
	theirs, err := readObjects(dir)
	if err != nil {
		r.fail("compare with "+dir, err.Error())
		return
	}
	seen := map[string]bool{}
	for _, m := range mine {
		if m.Obj == nil {
			continue
		}
		key := m.Kind + "/" + m.Name
		seen[key] = true
		other, ok := theirs[key]
		if !ok {
			r.fail("same as "+dir+": "+key, "missing from that output")
			continue
		}
		var diffs []string
		diffValues(m.Obj, other, "", &diffs)
		if len(diffs) > 0 {
			if len(diffs) > 10 {
				diffs = append(diffs[:10], "...")
			}
			r.fail("same as "+dir+": "+key, "differs (chartcheck vs other):\n"+strings.Join(diffs, "\n"))
			continue
		}
		r.pass("same as " + dir + ": " + key)
	}
	for key := range theirs {
		if !seen[key] {
			r.fail("same as "+dir+": "+key, "only in that output")
		}
	}
}

// diffValues lists the paths where two parsed documents differ.
func diffValues(a, b interface{}, at string, out *[]string) {
	am, aok := a.(map[string]interface{})
	bm, bok := b.(map[string]interface{})
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			diffValues(am[k], bm[k], strings.TrimPrefix(at+"."+k, "."), out)
		}
		return
	}
	al, aok := a.([]interface{})
	bl, bok := b.([]interface{})
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			diffValues(al[i], bl[i], fmt.Sprintf("%s[%d]", at, i), out)
		}
		return
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		*out = append(*out, fmt.Sprintf("%s: %s vs %s", at, ja, jb))
	}
}

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Accessors for parsed YAML.

func get(v interface{}, keys ...string) interface{} {
	for _, k := range keys {
		m, ok := v.(map[string]interface{})
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v interface{}, keys ...string) string {
	s, _ := get(v, keys...).(string)
	return s
}

func mapAt(v interface{}, keys ...string) map[string]interface{} {
	m, _ := get(v, keys...).(map[string]interface{})
	return m
}

func listAt(v interface{}, keys ...string) []interface{} {
	l, _ := get(v, keys...).([]interface{})
	return l
}

// stringMap returns a map of strings (labels, selectors).
func stringMap(v interface{}, keys ...string) map[string]string {
	out := map[string]string{}
	for k, val := range mapAt(v, keys...) {
		out[k] = fmt.Sprint(val)
	}
	return out
}

// subset says whether every pair of a is in b (and a is not empty).
func subset(a, b map[string]string) bool {
	if len(a) == 0 {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
