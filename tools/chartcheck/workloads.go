package main

// Checks of each pod template (Deployment, StatefulSet) and Pod: selectors,
// the governing Service of a StatefulSet, security contexts, probes,
// volumes and what they refer to, and the config checksum annotation.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

func checkWorkload(r *report, ix *index, w *workload) {
	id := w.id()
	if w.m.Kind != "Pod" {
		sel := stringMap(w.m.Obj, "spec", "selector", "matchLabels")
		if !subset(sel, w.labels) {
			r.fail(id+": selector within the pod labels", fmt.Sprintf("selector %v, pod labels %v", sel, w.labels))
		} else {
			r.pass(id + ": selector within the pod labels")
		}
	}
	if w.m.Kind == "StatefulSet" {
		r.check(id+": serviceName is a headless Service selecting its pods", checkGoverningService(ix, w))
	}
	r.check(id+": volumes, mounts and references exist", checkVolumes(ix, w))
	for _, c := range w.containers() {
		cid := fmt.Sprintf("%s container %s", id, str(c, "name"))
		r.check(cid+": non-root, read-only root, no privilege escalation, drops ALL", checkSecurity(w, c))
		if w.longRunning {
			if get(c, "ports") == nil && isInit(w, c) {
				continue
			}
			checkProbes(r, ix, w, c, cid)
		}
	}
	if cfg, err := podConfig(ix, w); err == nil && cfg != nil {
		sum := sha256.Sum256([]byte(cfg.dataText))
		want := hex.EncodeToString(sum[:])
		got := w.annotations["checksum/config"]
		if got != want {
			r.fail(id+": checksum/config is the sha256 of ConfigMap/"+cfg.configMap+" data",
				fmt.Sprintf("annotation %q, data's sha256 %q", got, want))
		} else {
			r.pass(id + ": checksum/config is the sha256 of ConfigMap/" + cfg.configMap + " data")
		}
	} else if err != nil {
		r.fail(id+": its --config file", err.Error())
	}
}

func isInit(w *workload, c map[string]interface{}) bool {
	for _, ic := range listAt(w.spec, "initContainers") {
		if str(ic, "name") == str(c, "name") {
			return true
		}
	}
	return false
}

func checkGoverningService(ix *index, w *workload) error {
	name := str(w.m.Obj, "spec", "serviceName")
	svc := ix.byKind["Service"][name]
	if svc == nil {
		return fmt.Errorf("serviceName %q is not a rendered Service", name)
	}
	if str(svc.Obj, "spec", "clusterIP") != "None" {
		return fmt.Errorf("Service %q is not headless (clusterIP None)", name)
	}
	if !subset(stringMap(svc.Obj, "spec", "selector"), w.labels) {
		return fmt.Errorf("Service %q does not select the set's pods", name)
	}
	return nil
}

func boolAt(v interface{}, keys ...string) (bool, bool) {
	b, ok := get(v, keys...).(bool)
	return b, ok
}

func checkSecurity(w *workload, c map[string]interface{}) error {
	pod := mapAt(w.spec, "securityContext")
	sc := mapAt(c, "securityContext")
	nonRoot, ok := boolAt(sc, "runAsNonRoot")
	if !ok {
		nonRoot, _ = boolAt(pod, "runAsNonRoot")
	}
	user, ok := get(sc, "runAsUser").(float64)
	if !ok {
		user, ok = get(pod, "runAsUser").(float64)
	}
	var problems []string
	if !nonRoot {
		problems = append(problems, "runAsNonRoot is not true")
	}
	if ok && user == 0 {
		problems = append(problems, "runAsUser is 0")
	}
	if ro, _ := boolAt(sc, "readOnlyRootFilesystem"); !ro {
		problems = append(problems, "readOnlyRootFilesystem is not true")
	}
	if ape, ok := boolAt(sc, "allowPrivilegeEscalation"); !ok || ape {
		problems = append(problems, "allowPrivilegeEscalation is not false")
	}
	if p, _ := boolAt(sc, "privileged"); p {
		problems = append(problems, "privileged")
	}
	dropsAll := false
	for _, d := range listAt(sc, "capabilities", "drop") {
		if d == "ALL" {
			dropsAll = true
		}
	}
	if !dropsAll {
		problems = append(problems, "capabilities.drop lacks ALL")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// checkProbes: liveness and readiness (and startup, if any) are gRPC probes
// on the container's port named grpc. tcpSocket on that port is accepted
// only when the service's config turns TLS on: kubelet's gRPC probe speaks
// plaintext and would fail the TLS handshake.
func checkProbes(r *report, ix *index, w *workload, c map[string]interface{}, cid string) {
	var grpcPort float64 = -1
	for _, p := range listAt(c, "ports") {
		if str(p, "name") == "grpc" {
			grpcPort, _ = get(p, "containerPort").(float64)
		}
	}
	if grpcPort < 0 {
		r.fail(cid+": probes", "no containerPort named grpc")
		return
	}
	tls := false
	if cfg, err := podConfig(ix, w); err == nil && cfg != nil {
		tls = str(cfg.parsed, "tls", "cert_file") != ""
	}
	var kinds []string
	var problems []string
	for _, probe := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		p := mapAt(c, probe)
		if p == nil {
			if probe != "startupProbe" {
				problems = append(problems, probe+" is missing")
			}
			continue
		}
		switch {
		case get(p, "grpc") != nil:
			if port, _ := get(p, "grpc", "port").(float64); port != grpcPort {
				problems = append(problems, fmt.Sprintf("%s.grpc.port %v is not the grpc containerPort %v", probe, get(p, "grpc", "port"), grpcPort))
			}
			kinds = append(kinds, probe+" grpc")
		case get(p, "tcpSocket") != nil && tls:
			port := get(p, "tcpSocket", "port")
			if port != grpcPort && port != "grpc" {
				problems = append(problems, fmt.Sprintf("%s.tcpSocket.port %v is not the grpc port %v", probe, port, grpcPort))
			}
			kinds = append(kinds, probe+" tcpSocket (TLS listener)")
		default:
			problems = append(problems, probe+" is not a grpc probe")
		}
	}
	what := fmt.Sprintf("%s: probes on the grpc port %v (%s)", cid, grpcPort, strings.Join(kinds, ", "))
	if len(problems) > 0 {
		r.fail(what, strings.Join(problems, "; "))
	} else {
		r.pass(what)
	}
}

func checkVolumes(ix *index, w *workload) error {
	var problems []string
	ref := func(kind, name, what string) {
		if name != "" && !ix.has(kind, name) {
			problems = append(problems, fmt.Sprintf("%s refers to %s/%s, neither rendered nor named by an existingSecret/existingClaim value", what, kind, name))
		}
	}
	for _, v := range listAt(w.spec, "volumes") {
		name := str(v, "name")
		ref("ConfigMap", str(v, "configMap", "name"), "volume "+name)
		ref("Secret", str(v, "secret", "secretName"), "volume "+name)
		ref("PersistentVolumeClaim", str(v, "persistentVolumeClaim", "claimName"), "volume "+name)
		for _, src := range listAt(v, "projected", "sources") {
			ref("ConfigMap", str(src, "configMap", "name"), "volume "+name)
			ref("Secret", str(src, "secret", "name"), "volume "+name)
		}
	}
	for _, c := range w.containers() {
		cname := str(c, "name")
		tmpWritable := false
		for _, vm := range listAt(c, "volumeMounts") {
			v := w.volume(str(vm, "name"))
			if v == nil {
				problems = append(problems, fmt.Sprintf("container %s mounts volume %q, which the pod does not have", cname, str(vm, "name")))
				continue
			}
			if str(vm, "mountPath") == "/tmp" && get(v, "emptyDir") != nil {
				tmpWritable = true
			}
		}
		if ro, _ := boolAt(c, "securityContext", "readOnlyRootFilesystem"); ro && !tmpWritable && w.longRunning {
			problems = append(problems, fmt.Sprintf("container %s has a read-only root and no emptyDir at /tmp", cname))
		}
		for _, e := range listAt(c, "env") {
			ref("Secret", str(e, "valueFrom", "secretKeyRef", "name"), "env "+str(e, "name"))
			ref("ConfigMap", str(e, "valueFrom", "configMapKeyRef", "name"), "env "+str(e, "name"))
		}
		for _, e := range listAt(c, "envFrom") {
			ref("Secret", str(e, "secretRef", "name"), "envFrom of "+cname)
			ref("ConfigMap", str(e, "configMapRef", "name"), "envFrom of "+cname)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}
