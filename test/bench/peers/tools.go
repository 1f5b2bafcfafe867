//go:build tools

// Package tools pins k8s.io/sample-apiserver, which the suite builds as a peer from this module.
package tools

import _ "k8s.io/sample-apiserver"
