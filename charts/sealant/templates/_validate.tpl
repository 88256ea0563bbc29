{{/*
Values that would render a broken or unsafe cluster, refused with a message saying what to set.
The values schema checks each value alone; these rules relate several. Included by the
Deployment template, so every render runs them.
*/}}
{{- define "sealant.validate" -}}
{{- $replicas := int .Values.replicas -}}
{{- if and (gt $replicas 1) (not (include "sealant.leaderElect" .)) -}}
{{- fail (printf "replicas: %d with leaderElection.enabled: false would run %d controllers that all reconcile and renew keys at once; set leaderElection.enabled: auto (or true), or replicas: 1" $replicas $replicas) -}}
{{- end -}}
{{- if include "sealant.pdb" . -}}
{{- $min := .Values.podDisruptionBudget.minAvailable -}}
{{- $blocks := false -}}
{{- if kindIs "string" $min -}}
{{- /* Kubernetes rounds a percentage up: it blocks once ceil(p * replicas / 100) >= replicas */ -}}
{{- $blocks = gt (mul (int (trimSuffix "%" $min)) $replicas) (mul (sub $replicas 1) 100) -}}
{{- else -}}
{{- $blocks = ge (int $min) $replicas -}}
{{- end -}}
{{- if and $blocks (gt $replicas 0) -}}
{{- fail (printf "podDisruptionBudget.minAvailable: %v with replicas: %d allows no pod to be evicted, so node drains would hang; use replicas: 2 or more with minAvailable: 1, or podDisruptionBudget.enabled: auto (no budget with one replica)" $min $replicas) -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.watch.scope "cluster") .Values.watch.namespaces -}}
{{- fail (printf "watch.namespaces (%s) is only used with watch.scope: namespaces; with scope cluster every namespace is watched. Set watch.scope: namespaces to watch only those, or remove watch.namespaces" (join ", " .Values.watch.namespaces)) -}}
{{- end -}}
{{- end -}}
