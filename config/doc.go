// Package config holds tlsprobed's configuration: the built-in defaults, a strict
// TOML v1.0.0 (https://toml.io/en/v1.0.0) loader, validation that names the offending
// key, and the compiled forms the daemon uses on its hot path (socket mode, networks,
// resolver addresses, override patterns).
//
// The flow is Default -> strict decode over the defaults -> Validate: a key absent from
// the file keeps its default, an unknown key is an error with its line
// ("config.toml:12: probe.timout: unknown key"), and Validate range-checks every field
// and compiles the parsed values once. Typed accessors such as [ProbeConfig.Networks]
// and [ListenConfig.FileMode] return those compiled values; they are zero until
// Validate has succeeded (Default, Parse, Load and LoadDefault all validate).
//
// Override lists follow Exim's domain-list item syntax (Exim specification, chapter
// "Domain, host, address, and local part lists"): see [Overrides.Match].
//
// The package is data only: it reads the file it is given and calls nothing else
// (no DNS, no user or group lookups, no os.Hostname).
package config
