{{/* Name prefix of every object; with release "cloister" the names match deploy/k8s. */}}
{{- define "cloister.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "cloister.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/* Labels of one component: (dict "root" $ "component" "storage"). */}}
{{- define "cloister.labels" -}}
app.kubernetes.io/name: cloister
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* In-cluster URL a peer uses: (dict "root" $ "component" "storage" "port" 17778). */}}
{{- define "cloister.url" -}}
https://{{ include "cloister.fullname" .root }}-{{ .component }}:{{ .port }}
{{- end -}}

{{- define "cloister.installTrustScript" -}}
# Copy the platform's trust material from its ConfigMap and Secret into the data directory,
# where the service expects it, with owner-only modes (the service refuses looser keys).
set -eu
umask 077
D="$CLOISTER_HOME"
rm -rf "$D/auditors"
mkdir -p "$D/auditors"
for f in /etc/cloister/platform/*; do
  case "$f" in
    *.public.pem|*.sign.sha256) cp -fL "$f" "$D/auditors/" ;;
    *) cp -fL "$f" "$D/" ;;
  esac
done
chmod 0644 "$D/as_root_ca.pem" "$D/enclave_info.toml" "$D"/auditors/*
for f in /etc/cloister/trust/*; do cp -RfL "$f" "$D/"; done
if [ -f /etc/cloister/sealing/sealing.key ]; then
  mkdir -p "$D/$CLOISTER_SERVICE/storage"
  cp -fL /etc/cloister/sealing/sealing.key "$D/$CLOISTER_SERVICE/storage/sealing.key"
  chmod 0600 "$D/$CLOISTER_SERVICE/storage/sealing.key"
fi
{{- end -}}

{{/*
One Cloister service: (dict "root" $ "name" "access_control" "component" "access-control" "svc" .Values.services.accessControl "stateful" false).
*/}}
{{- define "cloister.workload" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $stateful := and .stateful (eq $root.Values.storage.backend "leveldb") -}}
{{- $sealed := .stateful -}}
{{- if and $stateful (gt (int $svc.replicas) 1) -}}
{{- fail (printf "%s keeps LevelDB on its own volume and runs one replica; use storage.backend=etcd to scale it" .name) -}}
{{- end -}}
{{- if and $sealed (eq $root.Values.storage.backend "etcd") (not $root.Values.trust.sealingSecretName) -}}
{{- fail "storage.backend=etcd needs trust.sealingSecretName: every replica must seal with the same key" -}}
{{- end -}}
apiVersion: apps/v1
kind: {{ if .stateful }}StatefulSet{{ else }}Deployment{{ end }}
metadata:
  name: {{ include "cloister.fullname" $root }}-{{ .component }}
  labels:
    {{- include "cloister.labels" (dict "root" $root "component" .component) | nindent 4 }}
spec:
  {{- if not (and (eq .name "execution") $root.Values.execution.autoscaling.enabled) }}
  replicas: {{ $svc.replicas }}
  {{- end }}
  {{- if .stateful }}
  serviceName: {{ include "cloister.fullname" $root }}-{{ .component }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "cloister.labels" (dict "root" $root "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "cloister.labels" (dict "root" $root "component" .component) | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    spec:
      {{- if $root.Values.serviceAccount.create }}
      serviceAccountName: {{ include "cloister.fullname" $root }}
      {{- end }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $svc.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      initContainers:
        - name: install-trust
          image: {{ include "cloister.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: ["/bin/sh", "-c"]
          args:
            - |
              {{- include "cloister.installTrustScript" $root | nindent 14 }}
          env:
            - name: CLOISTER_HOME
              value: {{ $root.Values.dataDir }}
            - name: CLOISTER_SERVICE
              value: {{ .name }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: data
              mountPath: {{ $root.Values.dataDir }}
            - name: platform
              mountPath: /etc/cloister/platform
              readOnly: true
            - name: trust
              mountPath: /etc/cloister/trust
              readOnly: true
            {{- if $sealed }}
            - name: sealing
              mountPath: /etc/cloister/sealing
              readOnly: true
            {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "cloister.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["service", {{ .name | quote }}, "--config", "/etc/cloister/config/cloister.toml", "--data-dir", {{ $root.Values.dataDir | quote }}]
          env:
            - name: CLOISTER_HOME
              value: {{ $root.Values.dataDir }}
            {{- if and $root.Values.tee.enabled (eq $root.Values.tee.resourceModel "intel") }}
            # Intel's model publishes EPC as a node resource without Allocate: tell the service its budget.
            - name: CLOISTER_TEE_EPC_MIB
              value: {{ $svc.epcMib | quote }}
            {{- end }}
          ports:
            {{- range $pname, $port := $svc.ports }}
            - name: {{ $pname }}
              containerPort: {{ $port }}
            {{- end }}
            - name: metrics
              containerPort: {{ $root.Values.metrics.port }}
          # The operations endpoint answers from the service's dependency checks (storage,
          # scheduler, peers reachable and attested; executors probed).
          readinessProbe:
            httpGet:
              path: /readyz
              port: metrics
            periodSeconds: 5
            failureThreshold: 3
          livenessProbe:
            httpGet:
              path: /livez
              port: metrics
            initialDelaySeconds: 30
            periodSeconds: 20
          startupProbe:
            httpGet:
              path: /livez
              port: metrics
            periodSeconds: 2
            failureThreshold: 90
          resources:
            requests:
              {{- toYaml $svc.resources.requests | nindent 14 }}
            limits:
              {{- toYaml $svc.resources.limits | nindent 14 }}
              {{- if $root.Values.tee.enabled }}
              {{- include "cloister.teeResources" (dict "root" $root "svc" $svc) | nindent 14 }}
              {{- end }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
            {{- if eq .name "execution" }}
            seccompProfile:
              {{- toYaml $root.Values.execution.seccompProfile | nindent 14 }}
            appArmorProfile:
              type: Unconfined
            {{- end }}
          volumeMounts:
            - name: data
              mountPath: {{ $root.Values.dataDir }}
            - name: config
              mountPath: /etc/cloister/config
              readOnly: true
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: config
          configMap:
            name: {{ include "cloister.fullname" $root }}-config
        - name: platform
          configMap:
            name: {{ $root.Values.trust.platformConfigMap }}
        - name: trust
          secret:
            secretName: {{ $root.Values.trust.secretName }}
            defaultMode: 288 # 0440: owner and group (fsGroup) read
            items:
              - key: root-ca.key.pem
                path: attestation/root-ca.key.pem
              - key: report-signing.key.pem
                path: attestation/report-signing.key.pem
              - key: release-signing-key.pem
                path: signer/release-signing-key.pem
        {{- if $sealed }}
        - name: sealing
          secret:
            secretName: {{ $root.Values.trust.sealingSecretName }}
            optional: {{ ne $root.Values.storage.backend "etcd" }}
            defaultMode: 288 # 0440: owner and group (fsGroup) read
            items:
              - key: {{ .name }}.key
                path: sealing.key
        {{- end }}
        {{- if not $stateful }}
        - name: data
          emptyDir: {}
        {{- end }}
        - name: tmp
          emptyDir: {}
  {{- if $stateful }}
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: ["ReadWriteOnce"]
        {{- with $root.Values.storage.leveldb.storageClassName }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ $root.Values.storage.leveldb.size }}
  {{- end }}
{{- end -}}

{{/* The Service in front of a component (none for execution, which serves nothing). */}}
{{- define "cloister.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "cloister.fullname" .root }}-{{ .component }}
  labels:
    {{- include "cloister.labels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  type: {{ .svc.serviceType }}
  selector:
    {{- include "cloister.labels" (dict "root" .root "component" .component) | nindent 4 }}
  ports:
    {{- range $pname, $port := .svc.ports }}
    - name: {{ $pname }}
      port: {{ $port }}
      targetPort: {{ $pname }}
      protocol: TCP
    {{- end }}
{{- end -}}

{{/* Extended resources one TEE pod asks for, per resource model: (dict "root" $ "svc" <one service's values>). */}}
{{- define "cloister.teeResources" -}}
{{- $v := .root.Values -}}
{{- if eq $v.tee.resourceModel "intel" -}}
sgx.intel.com/epc: {{ printf "%dMi" (int .svc.epcMib) | quote }}
sgx.intel.com/enclave: "1"
sgx.intel.com/provision: "1"
{{- else -}}
alibabacloud.com/sgx_epc_MiB: {{ .svc.epcMib | quote }}
{{- end -}}
{{- end -}}

{{/* Refuse TEE pods that no device plugin could ever place. */}}
{{- define "cloister.checkTee" -}}
{{- $v := .Values -}}
{{- if and $v.tee.enabled (not $v.devicePlugin.enabled) (not $v.tee.externalDevicePlugin) -}}
{{- fail (printf "tee.enabled=true makes every pod ask for %s resources, which no node offers without a device plugin: set devicePlugin.enabled=true, or tee.externalDevicePlugin=true when the cluster runs one" $v.tee.resourceModel) -}}
{{- end -}}
{{- end -}}

{{/* The operations port (metrics, probes) is reachable from networkPolicy.metricsFrom (default anyone). */}}
{{- define "cloister.metricsIngress" -}}
- ports:
    - protocol: TCP
      port: {{ .Values.metrics.port }}
  {{- with .Values.networkPolicy.metricsFrom }}
  from:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
