{{/* Chart name. */}}
{{- define "sealant.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: fullnameOverride, else the release name (plus the chart name unless it is in it). */}}
{{- define "sealant.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sealant.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sealant.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sealant.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sealant.labels" -}}
helm.sh/chart: {{ include "sealant.chart" . }}
{{ include "sealant.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sealant
{{- end -}}

{{- define "sealant.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sealant.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sealant.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* "true" when leader election is on: explicitly, or "auto" with more than one replica. */}}
{{- define "sealant.leaderElect" -}}
{{- $v := .Values.leaderElection.enabled -}}
{{- if kindIs "bool" $v -}}
{{- ternary "true" "" $v -}}
{{- else if and (eq (toString $v) "auto") (gt (int .Values.replicas) 1) -}}
true
{{- end -}}
{{- end -}}

{{/* "true" when the PodDisruptionBudget is created. */}}
{{- define "sealant.pdb" -}}
{{- $v := .Values.podDisruptionBudget.enabled -}}
{{- if kindIs "bool" $v -}}
{{- ternary "true" "" $v -}}
{{- else if and (eq (toString $v) "auto") (gt (int .Values.replicas) 1) -}}
true
{{- end -}}
{{- end -}}

{{/* Namespaces watched in "namespaces" scope: the release namespace first, then watch.namespaces. */}}
{{- define "sealant.watchedNamespaces" -}}
{{- $out := list .Release.Namespace -}}
{{- range .Values.watch.namespaces -}}
{{- if not (has . $out) -}}
{{- $out = append $out . -}}
{{- end -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{/* A flag value as text: whole numbers without an exponent, maps as sorted k=v,k=v, lists joined by commas. */}}
{{- define "sealant.flagValue" -}}
{{- $v := . -}}
{{- if or (kindIs "float64" $v) (kindIs "float32" $v) -}}
{{- if eq (float64 (int64 $v)) (float64 $v) -}}{{ int64 $v }}{{- else -}}{{ $v }}{{- end -}}
{{- else if kindIs "map" $v -}}
{{- $pairs := list -}}
{{- range $k := keys $v | sortAlpha -}}
{{- $pairs = append $pairs (printf "%s=%v" $k (index $v $k)) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- else if kindIs "slice" $v -}}
{{- join "," $v -}}
{{- else -}}
{{- $v -}}
{{- end -}}
{{- end -}}

{{/* Controller arguments: one per value that is set. */}}
{{- define "sealant.args" -}}
{{- $c := .Values.controller -}}
{{- $le := .Values.leaderElection -}}
{{- $flags := list
  (list "listen-addr" (printf ":%v" (include "sealant.flagValue" .Values.containerPorts.http)))
  (list "listen-metrics-addr" (printf ":%v" (include "sealant.flagValue" .Values.containerPorts.metrics)))
  (list "key-prefix" $c.keyPrefix)
  (list "key-size" $c.keySize)
  (list "key-ttl" $c.keyTTL)
  (list "my-cn" $c.myCN)
  (list "key-renew-period" $c.keyRenewPeriod)
  (list "key-order-priority" $c.keyOrderPriority)
  (list "key-cutoff-time" $c.keyCutoffTime)
  (list "accept-deprecated-v1-data" $c.acceptDeprecatedV1Data)
  (list "label-selector" $c.labelSelector)
  (list "rate-limit" $c.rateLimit)
  (list "rate-limit-burst" $c.rateLimitBurst)
  (list "trusted-proxies" $c.trustedProxies)
  (list "privatekey-annotations" $c.privateKeyAnnotations)
  (list "privatekey-labels" $c.privateKeyLabels)
  (list "update-status" $c.updateStatus)
  (list "workers" $c.workers)
  (list "max-retry-delay" $c.maxRetryDelay)
  (list "read-timeout" $c.readTimeout)
  (list "write-timeout" $c.writeTimeout)
  (list "max-body-bytes" $c.maxBodyBytes)
  (list "kubeclient-qps" $c.kubeClientQPS)
  (list "kubeclient-burst" $c.kubeClientBurst)
  (list "log-level" $c.logLevel)
  (list "log-format" $c.logFormat)
-}}
{{- if eq .Values.watch.scope "namespaces" -}}
{{- $flags = append $flags (list "all-namespaces" false) -}}
{{- $flags = append $flags (list "additional-namespaces" (include "sealant.watchedNamespaces" .)) -}}
{{- end -}}
{{- if include "sealant.leaderElect" . -}}
{{- $flags = append $flags (list "leader-elect" true) -}}
{{- $flags = append $flags (list "leader-elect-lease-name" (default (include "sealant.fullname" .) $le.leaseName)) -}}
{{- $flags = append $flags (list "leader-elect-lease-duration" $le.leaseDuration) -}}
{{- $flags = append $flags (list "leader-elect-renew-deadline" $le.renewDeadline) -}}
{{- $flags = append $flags (list "leader-elect-retry-period" $le.retryPeriod) -}}
{{- end -}}
{{- range $flags -}}
{{- $v := index . 1 -}}
{{- if not (or (kindIs "invalid" $v) (and (kindIs "string" $v) (eq $v "")) (and (kindIs "map" $v) (empty $v)) (and (kindIs "slice" $v) (empty $v))) }}
- {{ printf "--%s=%s" (index . 0) (include "sealant.flagValue" $v) | quote }}
{{- end -}}
{{- end -}}
{{- if $c.skipRecreate }}
- "--skip-recreate"
{{- end -}}
{{- if $c.disableTemplates }}
- "--disable-templates"
{{- end -}}
{{- if $c.disableWeb }}
- "--disable-web"
{{- end -}}
{{- range .Values.controller.extraArgs }}
- {{ . | quote }}
{{- end -}}
{{- end -}}
