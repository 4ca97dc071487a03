// Package kubeconn gives a Kubernetes client a connection of its own to the API server.
//
// client-go shares one transport, and so one HTTP/2 connection, between every client built
// from equal configurations. The API server writes all frames of a connection through one
// goroutine, and a watch event waits there for its write. When watches share a connection
// with a stream of writes and the API server is short of CPU, the watch events queue behind
// the responses to those writes; a watch that cannot take its events as fast as they come
// fills its buffer in the API server (10 to 20 events), and the API server closes it
// ("Forcing watcher close due to unresponsiveness", counted in
// apiserver_terminated_watchers_total). The watcher then resumes from its last
// resourceVersion, behind by as long as that took. Watches on a connection of their own keep
// up.
package kubeconn
