// Package deploy holds the deployment files (compose.yaml at the top of the
// repository, nginx configuration here) and the tests that keep them
// consistent with the server, since Docker cannot run where the tests do.
package deploy
