package main

// Each service's rendered config, checked by the real binary:
//   <bin_dir>/<binary> --config=FILE --check_config
// which parses and validates every section as the service would at start,
// without binding, connecting or opening anything (it exits 0 and prints
// "ok", or 1 and names each bad field).
//
// --check_config also reads the files the config names (certificates, keys,
// CAs, token files): it checks that they exist and hold what they should.
// Those paths are where the pod mounts its Secrets and volumes
// (/etc/switchboard/tls/tls.crt, ...), which do not exist on the machine
// running chartcheck. So each volume the container mounts is materialised
// in a temporary directory (a Secret the chart renders with its own data;
// an existing Secret the chart only names with a throwaway CA, certificate
// and key made by the openssl CLI, or a random token; other volumes empty)
// and the mount paths in the config's text are rewritten to those
// directories before the binary reads it.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/ioutil"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The configs the services read, by ConfigMap key.
var serviceConfigKeys = map[string]bool{"broadcaster.yaml": true, "consumer.yaml": true, "bridge.yaml": true}

// podConfigInfo is the config file one of a pod's containers reads.
type podConfigInfo struct {
	container  map[string]interface{}
	configPath string // the --config path in the container
	mount      map[string]interface{}
	configMap  string
	key        string
	text       string                 // the file
	dataText   string                 // every data value, in key order (the checksum's input)
	parsed     map[string]interface{} // the file, parsed
}

var configFlag = regexp.MustCompile(`^--?config(?:=(.*))?$`)

// podConfig finds the container of w that takes --config, and the
// ConfigMap key mounted there. nil, nil: no container takes --config.
func podConfig(ix *index, w *workload) (*podConfigInfo, error) {
	for _, c := range w.containers() {
		argv := append(listAt(c, "command"), listAt(c, "args")...)
		for i, a := range argv {
			s, _ := a.(string)
			sub := configFlag.FindStringSubmatch(s)
			if sub == nil {
				continue
			}
			p := sub[1]
			if !strings.Contains(s, "=") && i+1 < len(argv) {
				p, _ = argv[i+1].(string)
			}
			return configAt(ix, w, c, p)
		}
	}
	return nil, nil
}

func configAt(ix *index, w *workload, c map[string]interface{}, p string) (*podConfigInfo, error) {
	for _, vm := range listAt(c, "volumeMounts") {
		mp := str(vm, "mountPath")
		key := ""
		switch {
		case mp == p && str(vm, "subPath") != "":
			key = str(vm, "subPath")
		case strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/"):
			key = strings.TrimPrefix(p, strings.TrimSuffix(mp, "/")+"/")
		default:
			continue
		}
		v := w.volume(str(vm, "name"))
		cmName := str(v, "configMap", "name")
		if cmName == "" {
			return nil, fmt.Errorf("--config %s is on volume %q, not a ConfigMap", p, str(vm, "name"))
		}
		for _, item := range listAt(v, "configMap", "items") {
			if str(item, "path") == key {
				key = str(item, "key")
			}
		}
		cm := ix.byKind["ConfigMap"][cmName]
		if cm == nil {
			return nil, fmt.Errorf("--config %s: ConfigMap %s is not rendered", p, cmName)
		}
		data := stringMap(cm.Obj, "data")
		text, ok := data[key]
		if !ok {
			return nil, fmt.Errorf("--config %s: ConfigMap %s has no key %q", p, cmName, key)
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var all strings.Builder
		for _, k := range keys {
			all.WriteString(data[k])
		}
		parsed, err := parseYAMLMap([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("ConfigMap %s key %s is not YAML: %v", cmName, key, err)
		}
		return &podConfigInfo{container: c, configPath: p, mount: vm.(map[string]interface{}),
			configMap: cmName, key: key, text: text, dataText: all.String(), parsed: parsed}, nil
	}
	return nil, fmt.Errorf("--config %s is on no volume the container mounts", p)
}

// pki is a throwaway CA and a certificate/key it signed (server and client
// usage), standing in for an existing TLS Secret.
type pki struct {
	dir string
	err error
}

func (p *pki) make(tmp string) error {
	if p.dir != "" || p.err != nil {
		return p.err
	}
	p.dir = filepath.Join(tmp, "pki")
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		p.err = err
		return err
	}
	ext := "subjectAltName=DNS:localhost,URI:spiffe://switchboard/switchboard\nextendedKeyUsage=serverAuth,clientAuth\n"
	if err := ioutil.WriteFile(filepath.Join(p.dir, "leaf.ext"), []byte(ext), 0o600); err != nil {
		p.err = err
		return err
	}
	for _, args := range [][]string{
		{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
			"-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=chartcheck-ca"},
		{"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
			"-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=chartcheck"},
		{"x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
			"-out", "tls.crt", "-days", "2", "-extfile", "leaf.ext"},
	} {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = p.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			p.err = fmt.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
			return p.err
		}
	}
	return nil
}

// fake returns stand-in content for a file of an existing Secret.
func (p *pki) fake(name, tmp string) ([]byte, error) {
	base := path.Base(name)
	isPEM := strings.HasSuffix(base, ".crt") || strings.HasSuffix(base, ".pem") || strings.HasSuffix(base, ".key")
	if !isPEM {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(b)), nil
	}
	if err := p.make(tmp); err != nil {
		return nil, err
	}
	file := "tls.crt"
	switch {
	case strings.HasSuffix(base, ".key"):
		file = "tls.key"
	case strings.HasPrefix(base, "ca") || strings.Contains(base, "-ca") || strings.Contains(base, "_ca"):
		file = "ca.crt"
	}
	return ioutil.ReadFile(filepath.Join(p.dir, file))
}

// secretData returns a rendered Secret's data, or nil for one the chart
// only names.
func secretData(ix *index, name string) map[string][]byte {
	m := ix.byKind["Secret"][name]
	if m == nil {
		return nil
	}
	out := map[string][]byte{}
	for k, v := range mapAt(m.Obj, "data") {
		s, _ := v.(string)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			b = []byte(s)
		}
		out[k] = b
	}
	for k, v := range mapAt(m.Obj, "stringData") {
		out[k] = []byte(fmt.Sprint(v))
	}
	return out
}

// materialise writes what volume v holds into dir (or, for a subPath mount,
// the one file at dir).
func materialise(ix *index, v map[string]interface{}, subPath, dir, tmp string, keys *pki) error {
	files := map[string][]byte{} // key -> content
	var itemPaths map[string]string
	switch {
	case get(v, "secret") != nil:
		name := str(v, "secret", "secretName")
		data := secretData(ix, name)
		items := listAt(v, "secret", "items")
		if len(items) > 0 {
			itemPaths = map[string]string{}
			for _, it := range items {
				itemPaths[str(it, "key")] = str(it, "path")
			}
		}
		wanted := []string{}
		switch {
		case itemPaths != nil:
			for k := range itemPaths {
				wanted = append(wanted, k)
			}
		case data != nil:
			for k := range data {
				wanted = append(wanted, k)
			}
		default:
			// An existing TLS Secret: the keys kubernetes.io/tls and
			// cert-manager give it.
			wanted = []string{"tls.crt", "tls.key", "ca.crt"}
		}
		if subPath != "" {
			wanted = []string{subPath}
		}
		for _, k := range wanted {
			if data != nil {
				content, ok := data[k]
				if !ok {
					return fmt.Errorf("Secret %s has no key %q", name, k)
				}
				files[k] = content
			} else {
				content, err := keys.fake(k, tmp)
				if err != nil {
					return err
				}
				files[k] = content
			}
		}
	case get(v, "configMap") != nil:
		if cm := ix.byKind["ConfigMap"][str(v, "configMap", "name")]; cm != nil {
			for k, val := range stringMap(cm.Obj, "data") {
				files[k] = []byte(val)
			}
		}
	}
	if subPath != "" {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return err
		}
		return ioutil.WriteFile(dir, files[subPath], 0o644)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for k, content := range files {
		p := k
		if itemPaths != nil && itemPaths[k] != "" {
			p = itemPaths[k]
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := ioutil.WriteFile(target, content, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// containerEnv resolves a container's env as the kubelet would (values of
// Secrets the chart only names are placeholders).
func containerEnv(ix *index, c map[string]interface{}) []string {
	var env []string
	for _, e := range listAt(c, "env") {
		name := str(e, "name")
		switch {
		case get(e, "value") != nil:
			env = append(env, name+"="+fmt.Sprint(get(e, "value")))
		case get(e, "valueFrom", "secretKeyRef") != nil:
			val := "chartcheck-placeholder"
			if data := secretData(ix, str(e, "valueFrom", "secretKeyRef", "name")); data != nil {
				val = string(data[str(e, "valueFrom", "secretKeyRef", "key")])
			}
			env = append(env, name+"="+val)
		case get(e, "valueFrom", "configMapKeyRef") != nil:
			if cm := ix.byKind["ConfigMap"][str(e, "valueFrom", "configMapKeyRef", "name")]; cm != nil {
				env = append(env, name+"="+str(cm.Obj, "data", str(e, "valueFrom", "configMapKeyRef", "key")))
			}
		default:
			env = append(env, name+"=chartcheck")
		}
	}
	return env
}

// checkConfigs runs every service config through its binary.
func checkConfigs(r *report, ix *index, binDir string) {
	tmp, err := ioutil.TempDir("", "chartcheck-")
	if err != nil {
		r.fail("temporary directory", err.Error())
		return
	}
	defer os.RemoveAll(tmp)
	keys := &pki{}
	used := map[string]bool{}
	for n, w := range ix.workloads {
		cfg, err := podConfig(ix, w)
		if err != nil || cfg == nil {
			continue // reported by checkWorkload
		}
		used[cfg.configMap+"/"+cfg.key] = true
		argv := listAt(cfg.container, "command")
		binary := ""
		if len(argv) > 0 {
			binary = path.Base(fmt.Sprint(argv[0]))
		}
		what := fmt.Sprintf("%s: %s --check_config accepts ConfigMap/%s %s", w.id(), binary, cfg.configMap, cfg.key)
		r.check(what, checkOne(ix, w, cfg, filepath.Join(binDir, binary), filepath.Join(tmp, fmt.Sprint(n)), tmp, keys))
	}
	for name, cm := range ix.byKind["ConfigMap"] {
		for k := range stringMap(cm.Obj, "data") {
			if serviceConfigKeys[k] && !used[name+"/"+k] {
				r.fail("ConfigMap/"+name+" "+k, "a service config that no container reads with --config")
			}
		}
	}
}

var pathChars = `[^\s"',\]\}]+`

func checkOne(ix *index, w *workload, cfg *podConfigInfo, bin, dir, tmp string, keys *pki) error {
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("no binary: %v", err)
	}
	var pairs [][2]string
	for i, vm := range listAt(cfg.container, "volumeMounts") {
		if str(vm, "mountPath") == str(cfg.mount, "mountPath") {
			continue
		}
		v := w.volume(str(vm, "name"))
		if v == nil {
			return fmt.Errorf("volume %q is missing", str(vm, "name"))
		}
		local := filepath.Join(dir, "mounts", fmt.Sprintf("%d-%s", i, str(vm, "name")))
		if err := materialise(ix, v, str(vm, "subPath"), local, tmp, keys); err != nil {
			return fmt.Errorf("volume %s: %v", str(vm, "name"), err)
		}
		pairs = append(pairs, [2]string{strings.TrimSuffix(str(vm, "mountPath"), "/"), local})
	}
	// Longest mount path first, so that nested mounts win.
	sort.Slice(pairs, func(i, j int) bool { return len(pairs[i][0]) > len(pairs[j][0]) })
	var args []string
	for _, p := range pairs {
		args = append(args, p[0], p[1])
	}
	text := strings.NewReplacer(args...).Replace(cfg.text)
	// Files the config names in a mounted Secret the chart only names, and
	// which the defaults above did not create (a token file under a
	// differently named key): stand-ins too.
	for _, p := range pairs {
		re := regexp.MustCompile(regexp.QuoteMeta(p[1]) + "/" + pathChars)
		for _, f := range re.FindAllString(text, -1) {
			if _, err := os.Stat(f); err == nil {
				continue
			}
			content, err := keys.fake(f, tmp)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				return err
			}
			if err := ioutil.WriteFile(f, content, 0o600); err != nil {
				return err
			}
		}
	}
	file := filepath.Join(dir, cfg.key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := ioutil.WriteFile(file, []byte(text), 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config="+file, "--check_config")
	cmd.Env = append(os.Environ(), containerEnv(ix, cfg.container)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	shown := strings.TrimSpace(strings.ReplaceAll(out.String(), dir+"/", ""))
	if err != nil {
		return fmt.Errorf("%v; its output:\n%s\nthe config it read (mount paths rewritten):\n%s", err, shown, text)
	}
	if shown != "" {
		fmt.Printf("      %s\n", strings.ReplaceAll(shown, "\n", "\n      "))
	}
	return nil
}
