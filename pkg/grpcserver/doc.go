// Package grpcserver builds the controller's gRPC server and runs it inside the controller
// manager: ControllerService and ClientService (wire contract §1.4) behind TLS, with the
// standard health service and reflection.
//
// The transport settings are the contract's (§3.1), not grpc-go's defaults: TLS 1.2 or later
// with h2 negotiated by ALPN, and a keepalive policy that lets clients ping every second even
// without a call. grpc-go's default policy answers the Python tools' 20 s pings with GOAWAY
// too_many_pings, which drops the long-lived Status, Listen and router streams.
//
// Every replica serves (the Server is not subject to leader election): the services read and
// write through the API server, so any replica can answer. The certificate files are watched
// and reloaded, so a certificate renewed by cert-manager is served without a restart. On
// shutdown the health service turns NOT_SERVING first, then the server stops gracefully within
// a bounded time, since streams such as Status and Listen never end on their own.
package grpcserver
