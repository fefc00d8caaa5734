// Package tomldoc holds what the readers of TOML documents share: the
// FILE:LINE: KEY: REASON problem type, the names of decoded value types,
// "did you mean" suggestions for unknown keys, and the map from key paths
// ("rules[1].conditions[0].regex", array indexes 0-based) to the lines
// where they are written.
//
// It is pure (no storage, no server) and imports no package of this
// repository: rules and server/config import it, each keeping its own
// wording and error types on top.
package tomldoc
