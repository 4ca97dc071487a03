package v1alpha1

// Condition types and reasons of Lease and Exporter. The strings are those of the upstream
// Jumpstarter controller; existing clients pattern-match them.
const (
	LeaseConditionPending       = "Pending"
	LeaseConditionReady         = "Ready"
	LeaseConditionUnsatisfiable = "Unsatisfiable"
	LeaseConditionInvalid       = "Invalid"

	// Pending reasons.
	LeaseReasonNotAvailable = "NotAvailable"
	LeaseReasonOffline      = "Offline"
	LeaseReasonScheduled    = "Scheduled"
	// Ready reasons.
	LeaseReasonReady              = "Ready"
	LeaseReasonReleased           = "Released"
	LeaseReasonExpired            = "Expired"
	LeaseReasonPlaceholderLost    = "PlaceholderDeleted"
	LeaseReasonPreempted          = "Preempted"
	LeaseReasonExporterDeleted    = "ExporterDeleted"
	LeaseReasonNoMatchingExporter = "NoMatchingExporter"
	// Unsatisfiable reasons.
	LeaseReasonExporterNotFound = "ExporterNotFound"
	LeaseReasonSelectorMismatch = "SelectorMismatch"
	LeaseReasonExporterDisabled = "ExporterDisabled"
	LeaseReasonAllDisabled      = "AllDisabled"
	// LeaseReasonNoAccess: exporters match, but no ExporterAccessPolicy rule lets the lease's
	// client have any of them (for the lease's duration).
	LeaseReasonNoAccess = "NoAccess"
	// Invalid reasons.
	LeaseReasonInvalidSelector = "InvalidSelector"
	LeaseReasonInvalidTimes    = "InvalidTimes"

	ExporterConditionRegistered = "Registered"
	ExporterConditionOnline     = "Online"
)

// Exporter status values (ExporterStatus.ExporterStatusValue), PascalCase forms of the
// jumpstarter.v1.ExporterStatus enum.
const (
	ExporterStatusUnspecified           = "Unspecified"
	ExporterStatusOffline               = "Offline"
	ExporterStatusAvailable             = "Available"
	ExporterStatusBeforeLeaseHook       = "BeforeLeaseHook"
	ExporterStatusLeaseReady            = "LeaseReady"
	ExporterStatusAfterLeaseHook        = "AfterLeaseHook"
	ExporterStatusBeforeLeaseHookFailed = "BeforeLeaseHookFailed"
	ExporterStatusAfterLeaseHookFailed  = "AfterLeaseHookFailed"
)
