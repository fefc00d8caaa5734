// Package rules is Floe's rule engine: the rule model (seed Appendix A
// conditions and Appendix B actions), its TOML/JSON schema, compilation,
// evaluation, the forwarder and the responder (RFC 3834) decisions and
// loop detection.
//
// It is pure: a message view (Message, built by the caller from what
// storage/mimeparse parsed once) and the arrival Context go in, a Plan
// comes out. The package never stores, sends or changes anything;
// server/delivery executes the plan (ARCHITECTURE.md decision 4: rules
// decides, delivery acts).
//
// Life cycle:
//
//	s, src, err := rules.ParseTOML(name, data) // or ParseJSON, Decode
//	prog, err := rules.Compile(s, src, opts)   // once, at load or change
//	plan := rules.Evaluate(ctx, []rules.Stage{{rules.LevelServer, server},
//	        {rules.LevelDomain, domain}, {rules.LevelAccount, account}}, msg, cx)
//
// Order of evaluation: the stages' rules in order; a rule matches when all
// its conditions hold (each may be negated) and its actions fold into the
// plan. "stop" and "accept" end rule processing (every level); "reject",
// "delete" and "quarantine" are terminal: they end it too and cancel the
// filing actions (reject and quarantine also the forwards; messages to
// send stay). Then the forwarder (unless terminal) and the responder
// (unless a rule stopped, or the message was terminal or spam) of the
// last stage that has one.
//
// Errors carry the document's file, line, key path and reason.
package rules
