{{- define "tokensmith.name" -}}tokensmith{{- end -}}

{{- define "tokensmith.labels" -}}
app.kubernetes.io/name: tokensmith
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tokensmith.selectorLabels" -}}
app.kubernetes.io/name: tokensmith
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tokensmith.serviceAccountName" -}}
{{- if .Values.serviceAccount.name -}}{{ .Values.serviceAccount.name }}{{- else -}}tokensmith{{- end -}}
{{- end -}}

{{- define "tokensmith.clusterResourceNamespace" -}}
{{- default .Release.Namespace .Values.clusterResourceNamespace -}}
{{- end -}}

{{- define "tokensmith.namespaced" -}}
{{- if eq .Values.installScope "namespaced" -}}true{{- end -}}
{{- end -}}

{{/* The controller's rules: the ClusterRole's, or a served namespace's Role's (no cluster-wide kinds). */}}
{{- define "tokensmith.rules" -}}
# Its own API: watch everything, write finalizers (server-side apply) and status.
- apiGroups: [tokensmith.dev]
  resources: [tokenpolicies, tokenissuers{{ if not .namespaced }}, clustertokenissuers{{ end }}]
  verbs: [list, watch, patch]
- apiGroups: [tokensmith.dev]
  resources: [tokenpolicies/status, tokenissuers/status{{ if not .namespaced }}, clustertokenissuers/status{{ end }}]
  verbs: [patch]
# Target Secrets (watched as metadata, by label) and issuers' Vault credentials (read by name).
- apiGroups: ['']
  resources: [secrets]
  verbs: [get, list, watch, create, patch]
# Published JWKS documents.
- apiGroups: ['']
  resources: [configmaps]
  verbs: [list, watch, create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- if not .namespaced }}
# Namespace labels: which namespaces a ClusterTokenIssuer serves.
- apiGroups: ['']
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}
# Restarting the workloads a policy names after a rotation.
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [get, patch]
{{- if not .namespaced }}
# The verification server authenticates introspection callers by their service-account token.
- apiGroups: [authentication.k8s.io]
  resources: [tokenreviews]
  verbs: [create]
{{- end }}
{{- end -}}
