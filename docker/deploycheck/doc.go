// Package deploycheck holds tests only: they parse docker/Dockerfile with BuildKit's parser,
// load docker/compose.yaml with the Compose specification's own loader and build docker/k8s
// with kustomize, then check ports, variable names, health commands and probe paths against
// the service's configuration defaults and the routes it really serves. It is a separate
// module so these heavy, test-only dependencies stay out of the service's go.mod.
package deploycheck
