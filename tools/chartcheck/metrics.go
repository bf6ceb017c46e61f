package main

// Checks of the metrics wiring: each service's rendered config against its
// container's port named metrics and the values (metrics.*, log.*), the
// Services' metrics ports, the prometheus.io pod annotations, the
// ServiceMonitors' selectors and ports, and that a NetworkPolicy admits the
// metrics port of the pods it selects. Also that no pod or Service uses a
// port name or number twice.

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// portsOf returns a container's ports: name -> containerPort.
func portsOf(c map[string]interface{}) map[string]float64 {
	out := map[string]float64{}
	for _, p := range listAt(c, "ports") {
		n, _ := get(p, "containerPort").(float64)
		out[str(p, "name")] = n
	}
	return out
}

// metricsPort returns the pod's containerPort named metrics, or -1.
func (w *workload) metricsPort() float64 {
	for _, c := range w.containers() {
		if n, ok := portsOf(c)["metrics"]; ok {
			return n
		}
	}
	return -1
}

func checkMetrics(r *report, ix *index, ms []*Manifest, values map[string]interface{}) {
	enabled, _ := get(values, "metrics", "enabled").(bool)
	for _, w := range ix.workloads {
		r.check(w.id()+": container ports distinct (names and numbers)", checkDistinctPorts(w))
		if !w.longRunning {
			continue
		}
		cfg, err := podConfig(ix, w)
		if err != nil || cfg == nil {
			continue // reported by checkWorkload
		}
		what := fmt.Sprintf("%s: metrics.listen of %s is on the containerPort named metrics", w.id(), cfg.key)
		if !enabled {
			what = fmt.Sprintf("%s: no metrics listener, port or scrape annotation (metrics.enabled false)", w.id())
		}
		r.check(what, checkPodMetrics(w, cfg, values, enabled))
		r.check(fmt.Sprintf("%s: log section of %s is the values' log.*", w.id(), cfg.key), checkPodLog(cfg, values))
	}
	var monitors []*Manifest
	for _, m := range ms {
		switch m.Kind {
		case "Service":
			r.check("Service/"+m.Name+": port names and numbers distinct; port metrics targets a metrics containerPort",
				checkServiceMetricsPort(ix, m))
		case "ServiceMonitor":
			monitors = append(monitors, m)
			r.check("ServiceMonitor/"+m.Name+": selects Services that have its endpoints' ports", checkServiceMonitor(ix, m))
		case "NetworkPolicy":
			r.check("NetworkPolicy/"+m.Name+": admits the metrics port of the pods it selects", checkPolicyAdmitsMetrics(ix, m))
		}
	}
	smWanted, _ := get(values, "metrics", "serviceMonitor", "enabled").(bool)
	switch {
	case enabled && smWanted && len(monitors) == 0:
		r.fail("ServiceMonitor", "metrics.serviceMonitor.enabled, but none is rendered")
	case !enabled && len(monitors) > 0:
		r.fail("ServiceMonitor", "rendered with metrics.enabled false: it would scrape ports that do not exist")
	case len(monitors) > 0:
		r.check("every Service with a metrics port is selected by a ServiceMonitor", checkMonitorCoverage(ix, monitors))
	}
}

func checkDistinctPorts(w *workload) error {
	names, numbers := map[string]string{}, map[float64]string{}
	var problems []string
	for _, c := range w.containers() {
		if isInit(w, c) {
			continue // init containers have finished before the others start
		}
		cname := str(c, "name")
		for _, p := range listAt(c, "ports") {
			name, n := str(p, "name"), get(p, "containerPort")
			num, _ := n.(float64)
			if name != "" {
				if prev, dup := names[name]; dup {
					problems = append(problems, fmt.Sprintf("port name %q in %s and %s", name, prev, cname))
				}
				names[name] = cname
			}
			if prev, dup := numbers[num]; dup {
				problems = append(problems, fmt.Sprintf("containerPort %v in %s and %s", n, prev, cname))
			}
			numbers[num] = cname
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// listenPort parses metrics.listen ("host:port"); the host must be a
// wildcard address, or the Service and other pods could not reach it.
func listenPort(listen string) (float64, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return 0, fmt.Errorf("metrics.listen %q: %v", listen, err)
	}
	if host != "0.0.0.0" && host != "::" && host != "" {
		return 0, fmt.Errorf("metrics.listen %q: host %q is not a wildcard address (0.0.0.0 or [::]): the Service cannot reach it", listen, host)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return 0, fmt.Errorf("metrics.listen %q: port %q is not a number", listen, port)
	}
	return float64(n), nil
}

func checkPodMetrics(w *workload, cfg *podConfigInfo, values map[string]interface{}, enabled bool) error {
	listen := str(cfg.parsed, "metrics", "listen")
	port := w.metricsPort()
	scrape := w.annotations["prometheus.io/scrape"]
	if !enabled {
		var problems []string
		if listen != "" {
			problems = append(problems, fmt.Sprintf("%s has metrics.listen %q", cfg.key, listen))
		}
		if port >= 0 {
			problems = append(problems, fmt.Sprintf("containerPort metrics %v", port))
		}
		if scrape == "true" {
			problems = append(problems, "annotated prometheus.io/scrape \"true\"")
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s", strings.Join(problems, "; "))
		}
		return nil
	}
	if listen == "" {
		return fmt.Errorf("%s has no metrics.listen (metrics.enabled is true)", cfg.key)
	}
	lp, err := listenPort(listen)
	if err != nil {
		return err
	}
	if port < 0 {
		return fmt.Errorf("no containerPort named metrics (%s listens on %v)", cfg.key, lp)
	}
	if lp != port {
		return fmt.Errorf("metrics.listen %q is not on the containerPort named metrics (%v)", listen, port)
	}
	if want, ok := get(values, "metrics", "port").(float64); ok && want != port {
		return fmt.Errorf("containerPort metrics %v is not the values' metrics.port %v", port, want)
	}
	got, _ := get(cfg.parsed, "metrics", "max_label_values").(float64)
	if want, ok := get(values, "metrics", "maxLabelValues").(float64); ok && got != want {
		return fmt.Errorf("metrics.max_label_values %v is not the values' metrics.maxLabelValues %v", get(cfg.parsed, "metrics", "max_label_values"), want)
	}
	if scrape == "true" {
		if a := w.annotations["prometheus.io/port"]; a != strconv.Itoa(int(port)) {
			return fmt.Errorf("prometheus.io/port %q is not the metrics containerPort %v", a, port)
		}
		if a := w.annotations["prometheus.io/path"]; a != "" && a != "/metrics" {
			return fmt.Errorf("prometheus.io/path %q: the services serve /metrics", a)
		}
	}
	return nil
}

func checkPodLog(cfg *podConfigInfo, values map[string]interface{}) error {
	for _, key := range []string{"format", "level"} {
		want, _ := get(values, "log", key).(string)
		got, present := get(cfg.parsed, "log", key).(string)
		if !present && get(cfg.parsed, "log", key) != nil {
			return fmt.Errorf("log.%s is %v, not a string", key, get(cfg.parsed, "log", key))
		}
		if got != want {
			return fmt.Errorf("log.%s %q, values' log.%s %q", key, got, key, want)
		}
	}
	return nil
}

func checkServiceMetricsPort(ix *index, m *Manifest) error {
	names, numbers := map[string]bool{}, map[float64]bool{}
	var problems []string
	pods := ix.matching(stringMap(m.Obj, "spec", "selector"))
	for _, p := range listAt(m.Obj, "spec", "ports") {
		name := str(p, "name")
		num, _ := get(p, "port").(float64)
		if names[name] {
			problems = append(problems, fmt.Sprintf("port name %q twice", name))
		}
		if numbers[num] {
			problems = append(problems, fmt.Sprintf("port %v twice", num))
		}
		names[name], numbers[num] = true, true
		if name != "metrics" {
			continue
		}
		if str(p, "appProtocol") != "http" {
			problems = append(problems, "port metrics has no appProtocol http")
		}
		target := get(p, "targetPort")
		if target == nil {
			target = get(p, "port")
		}
		if len(pods) == 0 {
			problems = append(problems, "port metrics: the selector matches no pods")
		}
		for _, w := range pods {
			mp := w.metricsPort()
			switch t := target.(type) {
			case string:
				if t != "metrics" || mp < 0 {
					problems = append(problems, fmt.Sprintf("port metrics: targetPort %q is not the containerPort named metrics of %s", t, w.id()))
				}
			case float64:
				if t != mp {
					problems = append(problems, fmt.Sprintf("port metrics: targetPort %v is not the containerPort named metrics of %s (%v)", t, w.id(), mp))
				}
			default:
				problems = append(problems, fmt.Sprintf("port metrics: targetPort %v", target))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// monitoredServices returns the Services a ServiceMonitor selects:
// selector.matchLabels, in its own namespace unless namespaceSelector says
// otherwise (any, or matchNames).
func monitoredServices(ix *index, sm *Manifest) ([]*Manifest, error) {
	if get(sm.Obj, "spec", "selector", "matchExpressions") != nil {
		return nil, fmt.Errorf("selector.matchExpressions: not supported by chartcheck")
	}
	sel := stringMap(sm.Obj, "spec", "selector", "matchLabels")
	if len(sel) == 0 {
		return nil, fmt.Errorf("selector.matchLabels is empty: it would select every Service of the namespace")
	}
	namespaces := map[string]bool{str(sm.Obj, "metadata", "namespace"): true}
	if any, _ := boolAt(sm.Obj, "spec", "namespaceSelector", "any"); any {
		namespaces = nil
	} else if names := listAt(sm.Obj, "spec", "namespaceSelector", "matchNames"); len(names) > 0 {
		namespaces = map[string]bool{}
		for _, n := range names {
			namespaces[fmt.Sprint(n)] = true
		}
	}
	var out []*Manifest
	for _, name := range sortedManifestNames(ix.byKind["Service"]) {
		svc := ix.byKind["Service"][name]
		if namespaces != nil && !namespaces[str(svc.Obj, "metadata", "namespace")] {
			continue
		}
		if subset(sel, stringMap(svc.Obj, "metadata", "labels")) {
			out = append(out, svc)
		}
	}
	return out, nil
}

func sortedManifestNames(m map[string]*Manifest) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func servicePortNames(svc *Manifest) map[string]bool {
	out := map[string]bool{}
	for _, p := range listAt(svc.Obj, "spec", "ports") {
		out[str(p, "name")] = true
	}
	return out
}

func checkServiceMonitor(ix *index, sm *Manifest) error {
	svcs, err := monitoredServices(ix, sm)
	if err != nil {
		return err
	}
	if len(svcs) == 0 {
		return fmt.Errorf("selector %v matches no rendered Service's labels", stringMap(sm.Obj, "spec", "selector", "matchLabels"))
	}
	endpoints := listAt(sm.Obj, "spec", "endpoints")
	if len(endpoints) == 0 {
		return fmt.Errorf("no endpoints")
	}
	var problems []string
	for i, e := range endpoints {
		port := str(e, "port")
		if port == "" {
			problems = append(problems, fmt.Sprintf("endpoints[%d] names no port (port: <the Service port's name>)", i))
			continue
		}
		var with []string
		for _, svc := range svcs {
			if servicePortNames(svc)[port] {
				with = append(with, svc.Name)
			}
		}
		if len(with) == 0 {
			problems = append(problems, fmt.Sprintf("endpoints[%d].port %q is no port of the Services it selects", i, port))
		}
		if p := str(e, "path"); p != "" && p != "/metrics" {
			problems = append(problems, fmt.Sprintf("endpoints[%d].path %q: the services serve /metrics", i, p))
		}
		interval, ierr := time.ParseDuration(str(e, "interval"))
		timeout, terr := time.ParseDuration(str(e, "scrapeTimeout"))
		if ierr == nil && terr == nil && timeout > interval {
			problems = append(problems, fmt.Sprintf("endpoints[%d]: scrapeTimeout %v is over interval %v (Prometheus refuses it)", i, timeout, interval))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func checkMonitorCoverage(ix *index, monitors []*Manifest) error {
	covered := map[string]bool{}
	for _, sm := range monitors {
		svcs, err := monitoredServices(ix, sm)
		if err != nil {
			continue // reported by checkServiceMonitor
		}
		for _, svc := range svcs {
			for _, e := range listAt(sm.Obj, "spec", "endpoints") {
				if servicePortNames(svc)[str(e, "port")] {
					covered[svc.Name] = true
				}
			}
		}
	}
	var missing []string
	for _, name := range sortedManifestNames(ix.byKind["Service"]) {
		if servicePortNames(ix.byKind["Service"][name])["metrics"] && !covered[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not scraped: Service %s", strings.Join(missing, ", Service "))
	}
	return nil
}

// checkPolicyAdmitsMetrics: an Ingress policy on pods with a metrics port
// must have a rule admitting it (by name, number, or a rule without ports),
// or Prometheus could not scrape them.
func checkPolicyAdmitsMetrics(ix *index, m *Manifest) error {
	ingress := false
	for _, t := range listAt(m.Obj, "spec", "policyTypes") {
		if t == "Ingress" {
			ingress = true
		}
	}
	if !ingress && get(m.Obj, "spec", "ingress") == nil {
		return nil
	}
	for _, w := range ix.matching(stringMap(m.Obj, "spec", "podSelector", "matchLabels")) {
		port := w.metricsPort()
		if port < 0 {
			continue
		}
		admitted := false
		for _, rule := range listAt(m.Obj, "spec", "ingress") {
			ports := listAt(rule, "ports")
			if len(ports) == 0 {
				admitted = true
			}
			for _, p := range ports {
				if v := get(p, "port"); v == "metrics" || v == port {
					admitted = true
				}
			}
		}
		if !admitted {
			return fmt.Errorf("no ingress rule admits the metrics port %v of %s", port, w.id())
		}
	}
	return nil
}
