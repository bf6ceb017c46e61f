{{/*
The chart's name, at most 63 characters.
*/}}
{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The default fully qualified app name: "<release>-<chart>", or the release
name when it already holds the chart's name. Cut to 40 characters (not 63,
as `helm create` does) so that every name made from it stays valid: the
longest is "<fullname>-bridge-headless" (56), and StatefulSet pod names and
their controller-revision-hash labels need the set's name under 52.
*/}}
{{- define "switchboard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The name of one service's resources: "<fullname>-<component>".
Call with (dict "root" $ "component" "broadcaster").
*/}}
{{- define "switchboard.componentName" -}}
{{- printf "%s-%s" (include "switchboard.fullname" .root) .component }}
{{- end }}

{{/*
The chart label: name and version.
*/}}
{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource. Call with (dict "root" $ "component" "...");
component "" leaves out app.kubernetes.io/component.
*/}}
{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" .root }}
{{ include "switchboard.selectorLabels" . }}
{{- with .root.Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: switchboard
{{- end }}

{{/*
Selector labels of one service's pods. Call with (dict "root" $ "component"
"...").
*/}}
{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/*
The ServiceAccount the pods run as.
*/}}
{{- define "switchboard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchboard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image: repository@digest, or repository:tag (tag defaults to the chart's
appVersion).
*/}}
{{- define "switchboard.image" -}}
{{- $repository := required "image.repository is required" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Each service's container port, binary and config file name.
*/}}
{{- define "switchboard.containerPort" -}}
{{- get (dict "broadcaster" "50051" "consumer" "50052" "bridge" "50053") . }}
{{- end }}

{{- define "switchboard.binary" -}}
{{- get (dict "broadcaster" "broadcaster" "consumer" "consumer" "bridge" "mq-bridge") . }}
{{- end }}

{{/*
Where the pods mount what the configs name.
*/}}
{{- define "switchboard.tlsDir" -}}/etc/switchboard/tls{{- end }}
{{- define "switchboard.tokensDir" -}}/etc/switchboard/tokens{{- end }}
{{- define "switchboard.bufferDir" -}}/var/lib/switchboard/buffer{{- end }}

{{/*
The bridge's address, as the broadcaster and the consumer dial it.
*/}}
{{- define "switchboard.bridgeAddress" -}}
{{- printf "%s:%v" (include "switchboard.componentName" (dict "root" . "component" "bridge")) .Values.bridge.service.port }}
{{- end }}

{{/*
The headless Service of the zeromq bridges, and the `connect` list naming
every bridge pod through it.
*/}}
{{- define "switchboard.bridgeHeadless" -}}
{{- printf "%s-headless" (include "switchboard.componentName" (dict "root" . "component" "bridge")) }}
{{- end }}

{{- define "switchboard.zeromqPeers" -}}
{{- $bridge := include "switchboard.componentName" (dict "root" . "component" "bridge") }}
{{- $headless := include "switchboard.bridgeHeadless" . }}
{{- $peers := list }}
{{- range $i := until (int .Values.bridge.replicaCount) }}
{{- $peers = append $peers (printf "tcp://%s-%d.%s:%v" $bridge $i $headless $.Values.transport.zeromq.port) }}
{{- end }}
{{- toYaml $peers }}
{{- end }}

{{/*
Merges map .src into map .dst, in place: maps key by key, anything else
replaced (a null that reaches here removes the key). Prints nothing.
*/}}
{{- define "switchboard.mergeInto" -}}
{{- $dst := .dst }}
{{- range $key, $value := .src }}
{{- if kindIs "invalid" $value }}
{{- $_ := unset $dst $key }}
{{- else if and (kindIs "map" $value) (kindIs "map" (get $dst $key)) }}
{{- include "switchboard.mergeInto" (dict "dst" (get $dst $key) "src" $value) }}
{{- else }}
{{- $_ := set $dst $key $value }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The `tls` section of a service's listeners (tls.enabled). Call with
(dict "root" $ "component" "...").
*/}}
{{- define "switchboard.serverTls" -}}
{{- $dir := include "switchboard.tlsDir" .root }}
cert_file: {{ printf "%s/tls.crt" $dir }}
key_file: {{ printf "%s/tls.key" $dir }}
client_ca_file: {{ printf "%s/ca.crt" $dir }}
client_certs: {{ eq .component "bridge" | ternary "require" .root.Values.tls.clientCerts }}
{{- end }}

{{/*
The broadcaster's and the consumer's `bridge` section: the bridge's address,
TLS toward it and the token they send.
*/}}
{{- define "switchboard.bridgeClient" -}}
address: {{ include "switchboard.bridgeAddress" . }}
{{- if .Values.tls.enabled }}
{{- $dir := include "switchboard.tlsDir" . }}
tls:
  ca_file: {{ printf "%s/ca.crt" $dir }}
  cert_file: {{ printf "%s/tls.crt" $dir }}
  key_file: {{ printf "%s/tls.key" $dir }}
  {{- with .Values.tls.bridgeServerName }}
  server_name: {{ . | quote }}
  {{- end }}
{{- end }}
{{- if .Values.authTokens.bridgeKey }}
token_file: {{ printf "%s/%s" (include "switchboard.tokensDir" .) .Values.authTokens.bridgeKey }}
{{- end }}
{{- end }}

{{/*
The chart's base config of each service, before <service>.config.
*/}}
{{- define "switchboard.baseConfig.broadcaster" -}}
listen:
  transport: tcp
  bind_address: 0.0.0.0
  port: {{ include "switchboard.containerPort" "broadcaster" }}
bridge:
  {{- include "switchboard.bridgeClient" . | nindent 2 }}
buffer:
  type: {{ .Values.buffer.type }}
  {{- if eq .Values.buffer.type "disk" }}
  disk:
    path: {{ include "switchboard.bufferDir" . }}
  {{- end }}
regions:
  enabled: {{ .Values.regions.enabled }}
{{- end }}

{{- define "switchboard.baseConfig.consumer" -}}
listen:
  transport: tcp
  bind_address: 0.0.0.0
  port: {{ include "switchboard.containerPort" "consumer" }}
bridge:
  {{- include "switchboard.bridgeClient" . | nindent 2 }}
{{- end }}

{{- define "switchboard.baseConfig.bridge" -}}
{{- $t := .Values.transport }}
listen: {{ printf "0.0.0.0:%s" (include "switchboard.containerPort" "bridge") }}
transport:
  driver: {{ $t.driver }}
  {{- if eq $t.driver "rabbitmq" }}
  rabbitmq:
    nodes:
      {{- toYaml $t.rabbitmq.nodes | nindent 6 }}
    vhost: {{ $t.rabbitmq.vhost | quote }}
    user: {{ $t.rabbitmq.user | quote }}
    password_env: SWITCHBOARD_RABBITMQ_PASSWORD
    exchange: {{ $t.rabbitmq.exchange | quote }}
    queue_type: {{ $t.rabbitmq.queueType }}
  {{- else if eq $t.driver "zeromq" }}
  zeromq:
    bind: {{ printf "tcp://0.0.0.0:%v" $t.zeromq.port }}
    connect:
      {{- include "switchboard.zeromqPeers" . | nindent 6 }}
  {{- end }}
{{- end }}

{{/*
Every service's `metrics` section (metrics.enabled), or nothing: the
services' default is no /metrics listener.
*/}}
{{- define "switchboard.metricsSection" -}}
{{- if .Values.metrics.enabled }}
listen: {{ printf "0.0.0.0:%d" (int .Values.metrics.port) | quote }}
max_label_values: {{ int .Values.metrics.maxLabelValues }}
{{- end }}
{{- end }}

{{/*
A service's config file: the base config, the tls, auth, log and metrics
sections, and <service>.config merged over them (the chart owns log and
metrics: switchboard.checkOwnedKeys refuses them there). Call with (dict "root" $ "component"
"...").
*/}}
{{- define "switchboard.config" -}}
{{- $root := .root }}
{{- $config := include (printf "switchboard.baseConfig.%s" .component) $root | fromYaml }}
{{- if $root.Values.tls.enabled }}
{{- $_ := set $config "tls" (include "switchboard.serverTls" . | fromYaml) }}
{{- end }}
{{- with $root.Values.auth }}
{{- $_ := set $config "auth" (deepCopy .) }}
{{- end }}
{{- $_ := set $config "log" (dict "format" $root.Values.log.format "level" (default "" $root.Values.log.level | toString)) }}
{{- with (include "switchboard.metricsSection" $root | fromYaml) }}
{{- $_ := set $config "metrics" . }}
{{- end }}
{{- $user := deepCopy (default dict (index $root.Values .component "config")) }}
{{- include "switchboard.mergeInto" (dict "dst" $config "src" $user) }}
{{- toYaml $config }}
{{- end }}

{{/*
Fails on settings of <service>.config that the chart owns.
*/}}
{{- define "switchboard.checkOwnedKeys" -}}
{{- $component := .component }}
{{- $config := default dict (index .root.Values $component "config") }}
{{- $where := printf "%s.config" $component }}
{{- if hasKey $config "listen" }}
{{- $listen := get $config "listen" }}
{{- if or (not (kindIs "map" $listen)) (eq $component "bridge") }}
{{- fail (printf "%s.listen is set by the chart (the container listens on 0.0.0.0:%s; the Service's port is %s.service.port)" $where (include "switchboard.containerPort" $component) $component) }}
{{- end }}
{{- range $key := list "port" "transport" }}
{{- if hasKey $listen $key }}
{{- fail (printf "%s.listen.%s is set by the chart (the container listens on TCP port %s; the Service's port is %s.service.port)" $where $key (include "switchboard.containerPort" $component) $component) }}
{{- end }}
{{- end }}
{{- end }}
{{- if hasKey $config "metrics" }}
{{- fail (printf "%s.metrics is set by the chart: use metrics.enabled, metrics.port and metrics.maxLabelValues" $where) }}
{{- end }}
{{- if hasKey $config "log" }}
{{- fail (printf "%s.log is set by the chart: use log.format and log.level" $where) }}
{{- end }}
{{- $bridge := get $config "bridge" }}
{{- if and (kindIs "map" $bridge) (hasKey (default dict $bridge) "address") }}
{{- fail (printf "%s.bridge.address is set by the chart (the bridge's Service, %s)" $where (include "switchboard.bridgeAddress" .root)) }}
{{- end }}
{{- if eq $component "broadcaster" }}
{{- $buffer := get $config "buffer" }}
{{- if and (kindIs "map" $buffer) (hasKey (default dict $buffer) "type") }}
{{- fail "broadcaster.config.buffer.type is set by the chart: use buffer.type" }}
{{- end }}
{{- $regions := get $config "regions" }}
{{- if and (kindIs "map" $regions) (hasKey (default dict $regions) "enabled") }}
{{- fail "broadcaster.config.regions.enabled is set by the chart: use regions.enabled" }}
{{- end }}
{{- end }}
{{- if eq $component "bridge" }}
{{- $transport := get $config "transport" }}
{{- if kindIs "map" $transport }}
{{- if hasKey $transport "driver" }}
{{- fail "bridge.config.transport.driver is set by the chart: use transport.driver" }}
{{- end }}
{{- $zeromq := get $transport "zeromq" }}
{{- if and (kindIs "map" $zeromq) (or (hasKey (default dict $zeromq) "bind") (hasKey (default dict $zeromq) "connect")) }}
{{- fail "bridge.config.transport.zeromq.bind and .connect are set by the chart: use transport.zeromq.port and bridge.replicaCount" }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The checks of values that the schema cannot express. Rendered by
templates/validate.yaml (prints nothing).
*/}}
{{- define "switchboard.validate" -}}
{{- $v := .Values }}
{{- if and (eq $v.transport.driver "memory") (gt (int $v.bridge.replicaCount) 1) }}
{{- fail "bridge.replicaCount is above 1 with transport.driver memory: the memory transport lives in one bridge process; use rabbitmq or zeromq for more than one bridge replica" }}
{{- end }}
{{- if $v.regions.enabled }}
{{- $max := int $v.broadcaster.replicaCount }}
{{- if $v.broadcaster.autoscaling.enabled }}
{{- $max = int $v.broadcaster.autoscaling.maxReplicas }}
{{- end }}
{{- if gt $max 1 }}
{{- fail (printf "broadcaster: %d replicas with regions.enabled: region tracking and per-source sequences live in one broadcaster process (README \"Regions\"); keep broadcaster.replicaCount 1 (and autoscaling.maxReplicas 1), or set regions.enabled false" $max) }}
{{- end }}
{{- end }}
{{- if and (eq $v.buffer.type "disk") $v.buffer.persistence.enabled }}
{{- if or (gt (int $v.broadcaster.replicaCount) 1) $v.broadcaster.autoscaling.enabled }}
{{- fail "buffer.persistence.enabled needs broadcaster.replicaCount 1 and autoscaling off: one disk log has one writer" }}
{{- end }}
{{- end }}
{{- range $component := list "broadcaster" "consumer" }}
{{- $a := (index $v $component).autoscaling }}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- fail (printf "%s.autoscaling.minReplicas (%d) is above maxReplicas (%d)" $component (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- end }}
{{- end }}
{{- if eq $v.transport.driver "rabbitmq" }}
{{- if not $v.transport.rabbitmq.nodes }}
{{- fail "transport.rabbitmq.nodes is empty: list the RabbitMQ nodes (host:port) the bridge connects to" }}
{{- end }}
{{- if not (or $v.transport.rabbitmq.existingSecret $v.transport.rabbitmq.password) }}
{{- fail "transport.rabbitmq: set existingSecret (a Secret holding the password at existingSecretKey) or password (the chart then creates the Secret)" }}
{{- end }}
{{- end }}
{{- if $v.tls.enabled }}
{{- $_ := required "tls.existingSecret is required with tls.enabled: a Secret with tls.crt, tls.key and ca.crt (e.g. written by a cert-manager Certificate)" $v.tls.existingSecret }}
{{- end }}
{{- if or $v.authTokens.bridgeKey $v.authTokens.testKey }}
{{- $_ := required "authTokens.existingSecret is required with authTokens.bridgeKey or testKey: the Secret holding the tokens" $v.authTokens.existingSecret }}
{{- end }}
{{- if eq (toString (dig "mode" "none" (default dict $v.auth))) "required" }}
{{- if not (or $v.tls.enabled $v.authTokens.bridgeKey) }}
{{- fail "auth.mode required: the broadcaster and the consumer need an identity toward the bridge: set tls.enabled (their certificate) or authTokens.bridgeKey (a token)" }}
{{- end }}
{{- end }}
{{- $pdb := $v.podDisruptionBudget }}
{{- if $pdb.enabled }}
{{- $hasMin := not (kindIs "invalid" $pdb.minAvailable) }}
{{- $hasMax := not (kindIs "invalid" $pdb.maxUnavailable) }}
{{- if and $hasMin $hasMax }}
{{- fail (printf "podDisruptionBudget: minAvailable (%v) and maxUnavailable (%v) are both set; set only one: to use minAvailable, clear the default maxUnavailable (podDisruptionBudget.maxUnavailable: null, or --set podDisruptionBudget.maxUnavailable=null)" $pdb.minAvailable $pdb.maxUnavailable) }}
{{- end }}
{{- if not (or $hasMin $hasMax) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable (e.g. maxUnavailable: 1), or enabled: false" }}
{{- end }}
{{- end }}
{{- if $v.metrics.enabled }}
{{- $port := int $v.metrics.port }}
{{- range $component := list "broadcaster" "consumer" "bridge" }}
{{- if eq $port (include "switchboard.containerPort" $component | int) }}
{{- fail (printf "metrics.port %d is the %s's gRPC container port: choose another metrics port" $port $component) }}
{{- end }}
{{- if eq $port (int (index $v $component).service.port) }}
{{- fail (printf "metrics.port and %s.service.port are both %d: a Service's ports must differ" $component $port) }}
{{- end }}
{{- end }}
{{- if and (eq $v.transport.driver "zeromq") (eq $port (int $v.transport.zeromq.port)) }}
{{- fail (printf "metrics.port and transport.zeromq.port are both %d: the bridge's container ports must differ" $port) }}
{{- end }}
{{- end }}
{{- range $component := list "broadcaster" "consumer" "bridge" }}
{{- include "switchboard.checkOwnedKeys" (dict "root" $ "component" $component) }}
{{- end }}
{{- end }}

{{/*
A service's config file as mounted: the config and a final newline.
Call with (dict "root" $ "component" "...").
*/}}
{{- define "switchboard.configFile" -}}
{{ include "switchboard.config" . }}
{{ end -}}

{{/*
The ConfigMap of a service's config file, at key <component>.yaml.
*/}}
{{- define "switchboard.configMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "switchboard.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "switchboard.labels" . | nindent 4 }}
data:
  {{- dict (printf "%s.yaml" .component) (include "switchboard.configFile" .) | toYaml | nindent 2 }}
{{- end }}

{{/*
The Service of a service's gRPC port (and its metrics port).
*/}}
{{- define "switchboard.service" -}}
{{- $values := index .root.Values .component }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "switchboard.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "switchboard.labels" . | nindent 4 }}
spec:
  type: {{ $values.service.type }}
  ports:
    - name: grpc
      port: {{ $values.service.port }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    {{- if .root.Values.metrics.enabled }}
    - name: metrics
      port: {{ int .root.Values.metrics.port }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
    {{- end }}
  selector:
    {{- include "switchboard.selectorLabels" . | nindent 4 }}
{{- end }}

{{/*
The probes of a service's container: kubelet's native gRPC health checks
(grpc.health.v1; every service serves it). Readiness of the bridge asks for
switchboard.v1.Bridge, NOT_SERVING while its transport is unreachable, so
that a bridge cut off from the broker takes no new connections; liveness
asks for the process only. kubelet's gRPC probe speaks plaintext, so with
tls.enabled the port is probed with tcpSocket instead.
*/}}
{{- define "switchboard.probes" -}}
{{- $port := include "switchboard.containerPort" .component | int }}
{{- $tls := .root.Values.tls.enabled -}}
startupProbe:
  {{- if $tls }}
  tcpSocket:
    port: {{ $port }}
  {{- else }}
  grpc:
    port: {{ $port }}
  {{- end }}
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  {{- if $tls }}
  tcpSocket:
    port: {{ $port }}
  {{- else }}
  grpc:
    port: {{ $port }}
  {{- end }}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  {{- if $tls }}
  tcpSocket:
    port: {{ $port }}
  {{- else }}
  grpc:
    port: {{ $port }}
    {{- if eq .component "bridge" }}
    service: switchboard.v1.Bridge
    {{- end }}
  {{- end }}
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 2
{{- end }}

{{/*
The pod template of a service's Deployment or StatefulSet.
Call with (dict "root" $ "component" "...").
*/}}
{{- define "switchboard.podTemplate" -}}
{{- $root := .root }}
{{- $component := .component }}
{{- $values := index $root.Values $component }}
{{- $v := $root.Values }}
{{- $name := include "switchboard.componentName" . }}
{{- $file := printf "%s.yaml" $component }}
{{- $bridgeToken := and (ne $component "bridge") $v.authTokens.bridgeKey -}}
{{- /* The chart's annotations, <service>.podAnnotations over them (the
config checksum excepted). */}}
{{- $annotations := dict }}
{{- if $v.metrics.enabled }}
{{- $_ := set $annotations "prometheus.io/scrape" "true" }}
{{- $_ := set $annotations "prometheus.io/port" (toString (int $v.metrics.port)) }}
{{- $_ := set $annotations "prometheus.io/path" "/metrics" }}
{{- end }}
{{- $annotations = mergeOverwrite $annotations (deepCopy (default dict $values.podAnnotations)) }}
{{- $_ := set $annotations "checksum/config" (include "switchboard.configFile" . | sha256sum) -}}
metadata:
  annotations:
    {{- toYaml $annotations | nindent 4 }}
  labels:
    {{- include "switchboard.labels" . | nindent 4 }}
    {{- with $values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  serviceAccountName: {{ include "switchboard.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $v.serviceAccount.automount }}
  # No *_SERVICE_HOST/_PORT variables of the namespace's Services in the
  # environment: the services read SWITCHBOARD_* variables.
  enableServiceLinks: false
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ $component }}
      image: {{ include "switchboard.image" $root | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      command:
        - {{ include "switchboard.binary" $component }}
        - {{ printf "--config=/etc/switchboard/%s" $file }}
      ports:
        - name: grpc
          containerPort: {{ include "switchboard.containerPort" $component }}
          protocol: TCP
        {{- if and (eq $component "bridge") (eq $v.transport.driver "zeromq") }}
        - name: zmq
          containerPort: {{ $v.transport.zeromq.port }}
          protocol: TCP
        {{- end }}
        {{- if $v.metrics.enabled }}
        - name: metrics
          containerPort: {{ int $v.metrics.port }}
          protocol: TCP
        {{- end }}
      {{- if and (eq $component "bridge") (eq $v.transport.driver "rabbitmq") }}
      env:
        - name: SWITCHBOARD_RABBITMQ_PASSWORD
          valueFrom:
            secretKeyRef:
              {{- if $v.transport.rabbitmq.existingSecret }}
              name: {{ $v.transport.rabbitmq.existingSecret }}
              key: {{ $v.transport.rabbitmq.existingSecretKey }}
              {{- else }}
              name: {{ printf "%s-rabbitmq" (include "switchboard.fullname" $root) }}
              key: password
              {{- end }}
      {{- end }}
      {{- include "switchboard.probes" . | nindent 6 }}
      resources:
        {{- toYaml $values.resources | nindent 8 }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: {{ printf "/etc/switchboard/%s" $file }}
          subPath: {{ $file }}
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- if $v.tls.enabled }}
        - name: tls
          mountPath: {{ include "switchboard.tlsDir" $root }}
          readOnly: true
        {{- end }}
        {{- if $bridgeToken }}
        - name: tokens
          mountPath: {{ include "switchboard.tokensDir" $root }}
          readOnly: true
        {{- end }}
        {{- if and (eq $component "broadcaster") (eq $v.buffer.type "disk") }}
        - name: buffer
          mountPath: {{ include "switchboard.bufferDir" $root }}
        {{- end }}
        {{- with $values.volumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ $name }}
    - name: tmp
      emptyDir: {}
    {{- if $v.tls.enabled }}
    - name: tls
      secret:
        secretName: {{ $v.tls.existingSecret }}
    {{- end }}
    {{- if $bridgeToken }}
    - name: tokens
      secret:
        secretName: {{ $v.authTokens.existingSecret }}
        items:
          - key: {{ $v.authTokens.bridgeKey }}
            path: {{ $v.authTokens.bridgeKey }}
    {{- end }}
    {{- if and (eq $component "broadcaster") (eq $v.buffer.type "disk") }}
    - name: buffer
      {{- if $v.buffer.persistence.enabled }}
      persistentVolumeClaim:
        claimName: {{ default (printf "%s-buffer" $name) $v.buffer.persistence.existingClaim }}
      {{- else if $v.buffer.emptyDir.sizeLimit }}
      emptyDir:
        sizeLimit: {{ $v.buffer.emptyDir.sizeLimit }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- end }}
    {{- with $values.volumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
A service's Deployment. Call with (dict "root" $ "component" "..."
"strategy" "Recreate"|"RollingUpdate").
*/}}
{{- define "switchboard.deployment" -}}
{{- $values := index .root.Values .component }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "switchboard.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "switchboard.labels" . | nindent 4 }}
spec:
  {{- if not (and $values.autoscaling $values.autoscaling.enabled) }}
  replicas: {{ $values.replicaCount }}
  {{- end }}
  strategy:
    type: {{ .strategy }}
  selector:
    matchLabels:
      {{- include "switchboard.selectorLabels" . | nindent 6 }}
  template:
    {{- include "switchboard.podTemplate" . | nindent 4 }}
{{- end }}

{{/*
The volume mounts of the test pod's containers.
*/}}
{{- define "switchboard.testMounts" -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- if .Values.tls.enabled }}
  - name: tls
    mountPath: {{ include "switchboard.tlsDir" . }}
    readOnly: true
  {{- end }}
  {{- if .Values.authTokens.testKey }}
  - name: tokens
    mountPath: {{ include "switchboard.tokensDir" . }}
    readOnly: true
  {{- end }}
{{- end }}
