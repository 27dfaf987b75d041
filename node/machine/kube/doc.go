// Package kube is this machine's side of the Kubernetes control plane: the
// files its components are started with (certificates issued on this
// control plane from the cluster's Kubernetes CAs, kubeconfigs, the
// service-account key pair) and their command lines, rendered from the
// cluster config. Whether and how they run (supervised processes in process
// mode, static pods under kubelet elsewhere) is the controllers' business;
// this package only turns the config into what each component needs.
package kube
