// Package deploycheck holds tests only: they load docker/compose.yaml with the Compose
// specification's own loader and build docker/k8s with kustomize, then check ports, variable
// names and probe paths against the service's configuration defaults and routes. It is a
// separate module so these heavy, test-only dependencies stay out of the service's go.mod.
package deploycheck
