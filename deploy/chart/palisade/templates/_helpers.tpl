{{- define "palisade.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if eq $tag "latest" -}}{{- fail "image.tag: latest is not a version; name one" -}}{{- end -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}

{{- define "palisade.labels" -}}
app.kubernetes.io/name: palisade-agent
app.kubernetes.io/part-of: palisade
{{- end -}}
