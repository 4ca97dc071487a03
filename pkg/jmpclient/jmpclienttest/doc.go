// Package jmpclienttest is a fake controller for tests of clients: an in-memory ClientService
// and ControllerService.Dial served over loopback TLS with a certificate of its own, so that
// a test runs the real client path (config file, TLS trust, §3.2 metadata, pagination) and
// scripts the lease's conditions and Dial's answers through hooks. It is to jmpclient what
// httptest is to net/http.
package jmpclienttest
