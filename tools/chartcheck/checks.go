package main

// Structural checks of the rendered manifests: what the API server or the
// pods themselves would otherwise only reveal on a cluster.

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// The apiVersion/kind pairs the chart may render (Kubernetes >= 1.24).
var knownKinds = map[string]bool{
	"v1/ConfigMap": true, "v1/Secret": true, "v1/Service": true,
	"v1/ServiceAccount": true, "v1/Pod": true, "v1/PersistentVolumeClaim": true,
	"apps/v1/Deployment": true, "apps/v1/StatefulSet": true,
	"policy/v1/PodDisruptionBudget":          true,
	"autoscaling/v2/HorizontalPodAutoscaler": true,
	"networking.k8s.io/v1/NetworkPolicy":     true,
	// The Prometheus Operator's CRD (metrics.serviceMonitor).
	"monitoring.coreos.com/v1/ServiceMonitor": true,
}

var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	labelValue       = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	labelName        = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
)

// workload is a pod template (Deployment, StatefulSet) or a Pod.
type workload struct {
	m           *Manifest
	spec        map[string]interface{} // the pod spec
	labels      map[string]string
	annotations map[string]string
	longRunning bool
}

func (w *workload) id() string { return w.m.Kind + "/" + w.m.Name }

// containers returns the init containers and the containers.
func (w *workload) containers() []map[string]interface{} {
	var out []map[string]interface{}
	for _, key := range []string{"initContainers", "containers"} {
		for _, c := range listAt(w.spec, key) {
			if cm, ok := c.(map[string]interface{}); ok {
				out = append(out, cm)
			}
		}
	}
	return out
}

func (w *workload) volume(name string) map[string]interface{} {
	for _, v := range listAt(w.spec, "volumes") {
		if str(v, "name") == name {
			return v.(map[string]interface{})
		}
	}
	return nil
}

// hasPort says whether a container of the pod exposes port p (a name or a
// number).
func (w *workload) hasPort(p interface{}) bool {
	for _, c := range w.containers() {
		for _, port := range listAt(c, "ports") {
			switch t := p.(type) {
			case string:
				if str(port, "name") == t {
					return true
				}
			case float64:
				if n, _ := get(port, "containerPort").(float64); n == t {
					return true
				}
			}
		}
	}
	return false
}

// index of the rendered objects, and what the values name outside the
// chart (existing Secrets, claims, ConfigMaps of user volumes).
type index struct {
	byKind    map[string]map[string]*Manifest
	workloads []*workload
	external  map[string]bool // "Secret/x", "ConfigMap/x", "PersistentVolumeClaim/x"
}

func (ix *index) has(kind, name string) bool {
	return ix.byKind[kind][name] != nil || ix.external[kind+"/"+name]
}

// matching returns the workloads whose pod labels include selector.
func (ix *index) matching(selector map[string]string) []*workload {
	var out []*workload
	for _, w := range ix.workloads {
		if subset(selector, w.labels) {
			out = append(out, w)
		}
	}
	return out
}

func buildIndex(ms []*Manifest, values map[string]interface{}) *index {
	ix := &index{byKind: map[string]map[string]*Manifest{}, external: map[string]bool{}}
	for _, m := range ms {
		if m.Obj == nil {
			continue
		}
		if ix.byKind[m.Kind] == nil {
			ix.byKind[m.Kind] = map[string]*Manifest{}
		}
		ix.byKind[m.Kind][m.Name] = m
		switch m.Kind {
		case "Deployment", "StatefulSet":
			ix.workloads = append(ix.workloads, &workload{m: m,
				spec:        mapAt(m.Obj, "spec", "template", "spec"),
				labels:      stringMap(m.Obj, "spec", "template", "metadata", "labels"),
				annotations: stringMap(m.Obj, "spec", "template", "metadata", "annotations"),
				longRunning: true})
		case "Pod":
			ix.workloads = append(ix.workloads, &workload{m: m, spec: mapAt(m.Obj, "spec"),
				labels:      stringMap(m.Obj, "metadata", "labels"),
				annotations: stringMap(m.Obj, "metadata", "annotations")})
		}
	}
	names := map[string]bool{}
	collectStrings(values, "existingSecret", names)
	for n := range names {
		ix.external["Secret/"+n] = true
	}
	names = map[string]bool{}
	collectStrings(values, "existingClaim", names)
	for n := range names {
		ix.external["PersistentVolumeClaim/"+n] = true
	}
	// Volumes the values declare themselves (<service>.volumes, imagePull
	// secrets) name objects made outside the chart.
	collectVolumeRefs(values, ix.external)
	return ix
}

func collectVolumeRefs(v interface{}, out map[string]bool) {
	switch t := v.(type) {
	case map[string]interface{}:
		if s := str(t, "secret", "secretName"); s != "" {
			out["Secret/"+s] = true
		}
		if s := str(t, "configMap", "name"); s != "" {
			out["ConfigMap/"+s] = true
		}
		if s := str(t, "persistentVolumeClaim", "claimName"); s != "" {
			out["PersistentVolumeClaim/"+s] = true
		}
		for _, val := range t {
			collectVolumeRefs(val, out)
		}
	case []interface{}:
		for _, val := range t {
			collectVolumeRefs(val, out)
		}
	}
}

func checkManifests(r *report, ms []*Manifest, values map[string]interface{}) *index {
	ix := buildIndex(ms, values)
	seen := map[string]string{}
	for _, m := range ms {
		if m.Obj == nil {
			continue
		}
		id := m.Kind + "/" + m.Name
		r.check(id+": apiVersion, kind, name and labels", checkMeta(m))
		if prev, dup := seen[id]; dup {
			r.fail(id, "rendered twice ("+prev+" and "+m.Source+")")
		}
		seen[id] = m.Source
	}
	for _, w := range ix.workloads {
		checkWorkload(r, ix, w)
	}
	for _, m := range ms {
		switch m.Kind {
		case "Service":
			r.check("Service/"+m.Name+": selects pods that have its target ports", checkService(ix, m))
		case "HorizontalPodAutoscaler":
			r.check("HorizontalPodAutoscaler/"+m.Name+": target and bounds", checkHPA(ix, m))
		case "PodDisruptionBudget":
			r.check("PodDisruptionBudget/"+m.Name+": selects pods, one bound", checkPDB(ix, m))
			warnPDB(ix, m)
		case "NetworkPolicy":
			r.check("NetworkPolicy/"+m.Name+": selects pods, named ports exist", checkNetworkPolicy(ix, m))
		}
	}
	checkMetrics(r, ix, ms, values)
	return ix
}

func checkMeta(m *Manifest) error {
	api := str(m.Obj, "apiVersion")
	switch {
	case api == "" || m.Kind == "" || m.Name == "":
		return fmt.Errorf("apiVersion %q, kind %q, metadata.name %q: none may be empty", api, m.Kind, m.Name)
	case !knownKinds[api+"/"+m.Kind]:
		return fmt.Errorf("unknown apiVersion/kind %s %s", api, m.Kind)
	case len(m.Name) > 253 || !dns1123Subdomain.MatchString(m.Name):
		return fmt.Errorf("name %q is not a DNS-1123 subdomain", m.Name)
	case m.Kind == "Service" && (len(m.Name) > 63 || !dns1123Label.MatchString(m.Name)):
		return fmt.Errorf("Service name %q is not a DNS-1123 label of at most 63 characters", m.Name)
	case m.Kind == "StatefulSet" && len(m.Name) > 52:
		return fmt.Errorf("StatefulSet name %q is over 52 characters (its pods' controller-revision-hash label would be over 63)", m.Name)
	}
	for _, where := range [][]string{{"metadata", "labels"}, {"spec", "template", "metadata", "labels"}} {
		for k, v := range stringMap(m.Obj, where...) {
			if err := checkLabel(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkLabel(k, v string) error {
	name := k
	if i := strings.LastIndex(k, "/"); i >= 0 {
		if prefix := k[:i]; len(prefix) > 253 || !dns1123Subdomain.MatchString(prefix) {
			return fmt.Errorf("label key %q: bad prefix", k)
		}
		name = k[i+1:]
	}
	if len(name) > 63 || !labelName.MatchString(name) {
		return fmt.Errorf("label key %q is invalid", k)
	}
	if len(v) > 63 || !labelValue.MatchString(v) {
		return fmt.Errorf("label %s: value %q is invalid (at most 63 characters, alphanumeric at both ends)", k, v)
	}
	return nil
}

func checkService(ix *index, m *Manifest) error {
	sel := stringMap(m.Obj, "spec", "selector")
	pods := ix.matching(sel)
	if len(pods) == 0 {
		return fmt.Errorf("selector %v matches no Deployment's or StatefulSet's pods", sel)
	}
	var problems []string
	for _, p := range listAt(m.Obj, "spec", "ports") {
		target := get(p, "targetPort")
		if target == nil {
			target = get(p, "port")
		}
		for _, w := range pods {
			if !w.hasPort(target) {
				problems = append(problems, fmt.Sprintf("port %s: targetPort %v is no containerPort of %s", str(p, "name"), target, w.id()))
			}
		}
		if str(p, "name") == "grpc" && str(p, "appProtocol") != "grpc" {
			problems = append(problems, "port grpc has no appProtocol grpc")
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func checkHPA(ix *index, m *Manifest) error {
	kind, name := str(m.Obj, "spec", "scaleTargetRef", "kind"), str(m.Obj, "spec", "scaleTargetRef", "name")
	target := ix.byKind[kind][name]
	if target == nil {
		return fmt.Errorf("scaleTargetRef %s/%s is not rendered", kind, name)
	}
	if get(target.Obj, "spec", "replicas") != nil {
		return fmt.Errorf("%s/%s sets spec.replicas: every helm upgrade would reset what the autoscaler chose", kind, name)
	}
	min, _ := get(m.Obj, "spec", "minReplicas").(float64)
	max, _ := get(m.Obj, "spec", "maxReplicas").(float64)
	if min < 1 || max < min {
		return fmt.Errorf("minReplicas %v, maxReplicas %v", min, max)
	}
	return nil
}

func checkPDB(ix *index, m *Manifest) error {
	sel := stringMap(m.Obj, "spec", "selector", "matchLabels")
	if len(ix.matching(sel)) == 0 {
		return fmt.Errorf("selector %v matches no pods", sel)
	}
	min, max := get(m.Obj, "spec", "minAvailable"), get(m.Obj, "spec", "maxUnavailable")
	if (min == nil) == (max == nil) {
		return fmt.Errorf("exactly one of minAvailable and maxUnavailable must be set")
	}
	return nil
}

// warnPDB prints (without failing) a budget that lets no pod be evicted:
// `kubectl drain` would then wait forever on the node holding one.
func warnPDB(ix *index, m *Manifest) {
	pods := ix.matching(stringMap(m.Obj, "spec", "selector", "matchLabels"))
	for _, w := range pods {
		if w.m.Kind == "Pod" {
			continue
		}
		replicas, fixed := get(w.m.Obj, "spec", "replicas").(float64)
		why := ""
		switch v := get(m.Obj, "spec", "maxUnavailable").(type) {
		case float64:
			if v == 0 {
				why = "maxUnavailable 0"
			}
		case string:
			if strings.TrimSuffix(v, "%") == "0" {
				why = "maxUnavailable " + v
			}
		}
		switch v := get(m.Obj, "spec", "minAvailable").(type) {
		case float64:
			if fixed && v >= replicas {
				why = fmt.Sprintf("minAvailable %v with %v replica(s)", v, replicas)
			}
		case string:
			// Kubernetes rounds a percentage up.
			pct, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
			if err == nil && fixed && replicas > 0 && math.Ceil(pct*replicas/100) >= replicas {
				why = fmt.Sprintf("minAvailable %s with %v replica(s)", v, replicas)
			}
		}
		if why != "" {
			fmt.Printf("WARN  PodDisruptionBudget/%s: %s of %s: no pod can be evicted (kubectl drain waits)\n", m.Name, why, w.id())
		}
	}
}

func checkNetworkPolicy(ix *index, m *Manifest) error {
	pods := ix.matching(stringMap(m.Obj, "spec", "podSelector", "matchLabels"))
	if len(pods) == 0 {
		return fmt.Errorf("podSelector matches no pods")
	}
	// A peer naming this release's pods (its instance label, no
	// namespaceSelector) must match some; other peers (Prometheus, from
	// networkPolicy.metricsFrom) are pods the chart does not render.
	release := stringMap(m.Obj, "metadata", "labels")["app.kubernetes.io/instance"]
	var problems []string
	for _, rule := range listAt(m.Obj, "spec", "ingress") {
		for _, from := range listAt(rule, "from") {
			sel := stringMap(from, "podSelector", "matchLabels")
			ours := release != "" && sel["app.kubernetes.io/instance"] == release && get(from, "namespaceSelector") == nil
			if ours && len(ix.matching(sel)) == 0 {
				problems = append(problems, fmt.Sprintf("from.podSelector %v matches no pods", sel))
			}
		}
		for _, p := range listAt(rule, "ports") {
			for _, w := range pods {
				if !w.hasPort(get(p, "port")) {
					problems = append(problems, fmt.Sprintf("port %v is no containerPort of %s", get(p, "port"), w.id()))
				}
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}
