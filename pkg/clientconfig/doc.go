// Package clientconfig reads and writes the config files of the Jumpstarter tools (wire
// contract §4): ClientConfig (what `jmp` reads), ExporterConfig (what `jmp run` reads) and the
// UserConfig that selects the default client. `jmpctl admin create` writes them, so the files
// must be exactly what the upstream Python tools accept and write themselves: the same key
// spelling and order, the same omissions (no nulls in a ClientConfig, no `leases` block while
// it holds only defaults), mode 0600, replaced atomically.
//
// Reading is as strict as the Python models are, so that a file this package accepts is one
// the Python tools accept too: a ClientConfig rejects unknown keys at the top level and in
// `metadata`, `drivers` and `leases` (and ignores them in `tls` and `shell`); an
// ExporterConfig ignores unknown top-level keys but not unknown `metadata` keys. Every error
// names the key, as a dotted path, and the line.
//
// The exporter's `export` section stays a generic driver tree (name -> type, config,
// children, ref) in file order, for an exporter agent to interpret.
package clientconfig
