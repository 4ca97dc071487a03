package framestream

// MetadataRequest is the metadata key that names an inner byte stream (§3.11): a call of
// RouterService/Stream inside the tunnel carries it, with a compact JSON Request.
const MetadataRequest = "request"

// Request is the JSON value of the request metadata.
type Request struct {
	// Kind is KindDriver (a driver's stream method) or KindResource (an upload).
	Kind string `json:"kind"`
	// UUID is the driver instance.
	UUID string `json:"uuid"`
	// Method is the stream method of a KindDriver request, e.g. "connect".
	Method string `json:"method,omitempty"`
}

// Kinds of Request.
const (
	KindDriver   = "driver"
	KindResource = "resource"
)
