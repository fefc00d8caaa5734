// Floe settings page: a small script over /api/v1/ (docs/api.md). No
// framework, no build step. Every control has a label, groups are
// fieldsets with legends, status and error messages go to live regions,
// and a refused change is shown next to the field the server names
// (the "errors" of an error answer, docs/api.md).
"use strict";
(function () {
  var csrf = "";
  var $ = function (id) { return document.getElementById(id); };
  var uidN = 0;
  function uid(p) { uidN++; return p + "-" + uidN; }

  function say(msg) { $("alert").textContent = ""; $("status").textContent = msg; }
  function fail(msg) { $("status").textContent = ""; $("alert").textContent = msg; }

  // api calls the settings API; it resolves with the parsed JSON (or null)
  // and rejects with an Error carrying the server's message and its
  // per-field problems (e.fields: [{key, message}]).
  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin", headers: {} };
    if (csrf) { opts.headers["X-CSRF-Token"] = csrf; }
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (r) {
      if (r.status === 204) { return null; }
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) {
          var e = new Error((j && j.error) || ("request failed (" + r.status + ")"));
          e.status = r.status;
          e.fields = (j && j.errors) || [];
          throw e;
        }
        return j;
      });
    });
  }

  function el(tag, text, attrs) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (attrs) { Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); }); }
    return e;
  }

  function button(text, onclick, label, data) {
    var b = el("button", text, { type: "button" });
    if (label) { b.setAttribute("aria-label", label); }
    if (data) { Object.keys(data).forEach(function (k) { b.dataset[k] = data[k]; }); }
    b.addEventListener("click", onclick);
    return b;
  }

  function bytes(n) {
    var u = ["bytes", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }

  // --- field errors ---
  //
  // fieldError shows msg next to the control (after its .check wrapper),
  // marks it invalid and links the message with aria-describedby.
  function fieldError(ctl, msg) {
    var anchor = ctl.parentNode && ctl.parentNode.classList.contains("check") ? ctl.parentNode : ctl;
    var p = el("p", msg, { id: uid("err"), "class": "field-error" });
    anchor.insertAdjacentElement("afterend", p);
    if (/^(INPUT|SELECT|TEXTAREA)$/.test(ctl.tagName)) { ctl.setAttribute("aria-invalid", "true"); }
    if (ctl.dataset.describedby === undefined) { ctl.dataset.describedby = ctl.getAttribute("aria-describedby") || ""; }
    ctl.setAttribute("aria-describedby", ((ctl.getAttribute("aria-describedby") || "") + " " + p.id).trim());
  }

  // clearErrors removes the messages fieldError put into root and gives
  // the controls back their own descriptions.
  function clearErrors(root) {
    root.querySelectorAll(".field-error").forEach(function (p) { p.remove(); });
    root.querySelectorAll("[aria-invalid]").forEach(function (c) { c.removeAttribute("aria-invalid"); });
    root.querySelectorAll("[data-describedby]").forEach(function (c) {
      if (c.dataset.describedby) { c.setAttribute("aria-describedby", c.dataset.describedby); } else { c.removeAttribute("aria-describedby"); }
      delete c.dataset.describedby;
    });
  }

  // showErrors puts each problem of e next to the control lookup(key)
  // returns (null: not a field of this form), focuses the first such
  // control and says in the alert region how many problems there are.
  // Problems without a control are listed in the alert.
  function showErrors(root, e, lookup, what) {
    clearErrors(root);
    var first = null, loose = [], shown = 0;
    (e.fields || []).forEach(function (f) {
      var c = lookup(f.key);
      if (c) {
        fieldError(c, f.message);
        shown++;
        if (!first) { first = c; }
      } else {
        loose.push((f.key ? f.key + ": " : "") + f.message);
      }
    });
    if (!shown) { fail(what + ": " + e.message); return; }
    fail(what + ": " + (shown === 1 ? "1 problem" : shown + " problems") + ", shown next to the field" +
      (shown === 1 ? "" : "s") + "." + (loose.length ? " " + loose.join(" ") : ""));
    first.focus();
  }

  // --- session ---

  var minPassword = 0;

  function showApp(s) {
    $("login-section").hidden = true;
    $("app").hidden = false;
    $("who").hidden = false;
    $("who-address").textContent = s.address;
    setPasswordMin(s.min_password_length);
    loadAll();
    $("main").focus();
  }

  function showLogin() {
    csrf = "";
    $("app").hidden = true;
    $("who").hidden = true;
    $("login-section").hidden = false;
    $("login-address").focus();
  }

  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    api("POST", "/api/v1/session", { address: $("login-address").value, password: $("login-password").value })
      .then(function (s) { csrf = s.csrf_token; $("login-password").value = ""; say("Logged in as " + s.address + "."); showApp(s); })
      .catch(function (e) { fail(e.message); $("login-password").focus(); });
  });

  $("logout").addEventListener("click", function () {
    api("DELETE", "/api/v1/session").then(function () { say("Logged out."); showLogin(); }, function (e) { fail(e.message); });
  });

  // --- sections ---

  function loadAll() {
    loadQuota(); loadAppPasswords(); loadClients(); loadActivation();
    feature("forwarder", "/api/v1/forwarder", loadForwarder);
    feature("responder", "/api/v1/responder", loadResponder);
    feature("rules", "/api/v1/rules", loadRules);
    feature("shares", "/api/v1/shares", loadShares);
  }

  // feature shows the elements marked data-feature=name when the API
  // offers path, and gives its answer to load.
  function feature(name, path, load) {
    api("GET", path).then(function (j) {
      document.querySelectorAll('[data-feature="' + name + '"]').forEach(function (e) { e.hidden = false; });
      load(j);
    }, function () {
      document.querySelectorAll('[data-feature="' + name + '"]').forEach(function (e) { e.hidden = true; });
    });
  }

  function loadQuota() {
    api("GET", "/api/v1/quota").then(function (q) {
      var t = bytes(q.bytes_used) + " used";
      if (q.bytes_limit > 0) {
        t += " of " + bytes(q.bytes_limit);
        $("quota-bar").hidden = false;
        $("quota-bar").value = Math.min(100, Math.round(100 * q.bytes_used / q.bytes_limit));
      }
      t += "; " + q.messages_used + " messages" + (q.messages_limit > 0 ? " of " + q.messages_limit : "") + ".";
      $("quota-text").textContent = t;
    }, function (e) { $("quota-text").textContent = e.message; });
  }

  // --- password ---

  // setPasswordMin shows the server's minimum length ([auth]
  // min_password_length, from the session answer) in the label.
  function setPasswordMin(n) {
    minPassword = n > 0 ? n : 0;
    $("pw-min").textContent = minPassword ? " (at least " + minPassword + " characters)" : "";
    ["pw-new", "pw-new2"].forEach(function (i) {
      if (minPassword) { $(i).setAttribute("minlength", String(minPassword)); } else { $(i).removeAttribute("minlength"); }
    });
  }

  var passwordFields = { old_password: "pw-old", new_password: "pw-new" };

  $("password-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = $("password-form");
    clearErrors(f);
    var problems = [];
    if (!$("pw-old").value) { problems.push({ key: "old_password", message: "Type your current password." }); }
    if ($("pw-new").value.length < minPassword) { problems.push({ key: "new_password", message: "The new password needs at least " + minPassword + " characters." }); }
    if ($("pw-new").value !== $("pw-new2").value) { problems.push({ key: "new_password2", message: "The two new passwords differ." }); }
    var lookup = function (k) { return k === "new_password2" ? $("pw-new2") : (passwordFields[k] ? $(passwordFields[k]) : null); };
    if (problems.length) { showErrors(f, { fields: problems }, lookup, "The password was not changed"); return; }
    api("POST", "/api/v1/password", { old_password: $("pw-old").value, new_password: $("pw-new").value })
      .then(function (r) { ["pw-old", "pw-new", "pw-new2"].forEach(function (i) { $(i).value = ""; }); say(r.message || "Password changed."); })
      .catch(function (e) { showErrors(f, e, lookup, "The password was not changed"); });
  });

  // --- app passwords, client settings, activation ---

  function loadAppPasswords() {
    api("GET", "/api/v1/app-passwords").then(function (list) {
      var ul = $("apppw-list");
      ul.textContent = "";
      if (!list.length) { ul.appendChild(el("li", "No app passwords yet.")); }
      list.forEach(function (p) {
        var li = el("li", p.label + " — created " + p.created.slice(0, 10) + (p.last_used ? ", last used " + p.last_used.slice(0, 10) : ", never used") + " ");
        li.appendChild(button("Revoke", function () {
          api("DELETE", "/api/v1/app-passwords/" + p.id).then(function () { say("App password " + p.label + " revoked."); loadAppPasswords(); $("apppw-label").focus(); }, function (e) { fail(e.message); });
        }, "Revoke app password " + p.label));
        ul.appendChild(li);
      });
    }, function (e) { fail(e.message); });
  }

  $("apppw-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = $("apppw-form");
    clearErrors(f);
    api("POST", "/api/v1/app-passwords", { label: $("apppw-label").value }).then(function (p) {
      $("apppw-label").value = "";
      var out = $("apppw-new");
      out.hidden = false;
      out.textContent = "New app password for " + p.label + ": " + p.password + " — copy it now; it is not shown again.";
      out.focus();
      loadAppPasswords();
    }, function (e) { showErrors(f, e, function (k) { return k === "label" ? $("apppw-label") : null; }, "No app password was created"); });
  });

  function loadClients() {
    api("GET", "/api/v1/client-settings").then(function (s) {
      var tb = $("clients-table");
      tb.textContent = "";
      [["IMAP", s.imap], ["POP3", s.pop3], ["SMTP", s.smtp]].forEach(function (x) {
        (x[1] || []).forEach(function (e) {
          var tr = el("tr");
          tr.appendChild(el("th", x[0], { scope: "row" }));
          tr.appendChild(el("td", e.host));
          tr.appendChild(el("td", String(e.port)));
          tr.appendChild(el("td", e.security === "ssl" ? "SSL/TLS" : "STARTTLS"));
          tb.appendChild(tr);
        });
      });
      var dl = $("clients-urls");
      dl.textContent = "";
      [["User name", s.login_name], ["WebDAV (attachments)", s.webdav_url], ["CalDAV", s.caldav_url], ["CardDAV", s.carddav_url]].forEach(function (x) {
        if (x[1]) { dl.appendChild(el("dt", x[0])); dl.appendChild(el("dd", x[1])); }
      });
    }, function (e) { fail(e.message); });
  }

  function loadActivation() {
    api("GET", "/api/v1/activation-key").then(function (k) { $("activation-key").textContent = k.activation_key; },
      function () { $("activation-key").textContent = "not offered"; });
  }

  // Time zones for the responder and the local time condition (the
  // browser's own list; no request).
  (function () {
    var dl = $("tz-list");
    try {
      Intl.supportedValuesOf("timeZone").forEach(function (z) { dl.appendChild(el("option", null, { value: z })); });
    } catch (e) { /* an older browser: type the name */ }
  }());

  // --- forwarder and responder (the rules schema of docs/rules.md) ---

  function loadForwarder(f) {
    $("fwd-to").value = f && f.to ? f.to.join(", ") : "";
    $("fwd-keep").checked = !f || !f.to || !!f.keep_copy;
  }

  $("forwarder-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = $("forwarder-form");
    clearErrors(f);
    var to = $("fwd-to").value.split(/[,;\s]+/).filter(Boolean);
    api("PUT", "/api/v1/forwarder", to.length ? { to: to, keep_copy: $("fwd-keep").checked } : null)
      .then(function () { say(to.length ? "Forwarder saved." : "Forwarding turned off."); },
        function (e) { showErrors(f, e, function (k) { return /^forwarder\.to\b/.test(k) ? $("fwd-to") : null; }, "The forwarder was not saved"); });
  });

  function syncResponderDays() {
    var on = $("resp-mode").value === "again_after";
    $("resp-days").disabled = !on;
    if (on && !$("resp-days").value) { $("resp-days").value = "7"; }
  }
  $("resp-mode").addEventListener("change", syncResponderDays);

  function loadResponder(r) {
    r = r || {};
    $("resp-mode").value = r.mode || "disabled";
    $("resp-days").value = r.again_after_days || "";
    $("resp-from").value = r.from_date || "";
    $("resp-to").value = r.to_date || "";
    $("resp-tz").value = r.timezone || "";
    $("resp-exclude").value = (r.exclude || []).join("\n");
    $("resp-sender").value = r.from || "";
    $("resp-subject").value = r.subject || "Re: %%Subject%%";
    $("resp-text").value = r.text || "";
    syncResponderDays();
  }

  var responderFields = { mode: "resp-mode", again_after_days: "resp-days", from_date: "resp-from", to_date: "resp-to",
    timezone: "resp-tz", exclude: "resp-exclude", from: "resp-sender", subject: "resp-subject", text: "resp-text" };

  $("responder-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = $("responder-form");
    clearErrors(f);
    var r = { mode: $("resp-mode").value, text: $("resp-text").value };
    if (r.mode === "again_after") { r.again_after_days = parseInt($("resp-days").value, 10) || 0; }
    [["from_date", "resp-from"], ["to_date", "resp-to"], ["timezone", "resp-tz"], ["from", "resp-sender"], ["subject", "resp-subject"]].forEach(function (x) {
      var v = $(x[1]).value.trim();
      if (v) { r[x[0]] = v; }
    });
    var ex = $("resp-exclude").value.split(/[\s,;]+/).filter(Boolean);
    if (ex.length) { r.exclude = ex; }
    api("PUT", "/api/v1/responder", r).then(function () { say("Responder saved."); }, function (e) {
      showErrors(f, e, function (k) {
        var m = /^responder\.([a-z_]+)/.exec(k);
        return m && responderFields[m[1]] ? $(responderFields[m[1]]) : (k === "responder" ? $("resp-subject") : null);
      }, "The responder was not saved");
    });
  });

  // --- rules (seed: Rules, Rule dialog, Appendix A and B) ---

  // Conditions in the seed's order: [if, label, kind]. Kinds: str (a
  // string test), priority, none, range (greater/lower), who
  // (local/remote, account, member of), time.
  var CONDS = [
    ["from", "From: header matches", "str"], ["to", "To: header matches", "str"],
    ["subject", "Subject: header matches", "str"], ["cc", "Cc: header matches", "str"],
    ["reply_to", "Reply-To: header matches", "str"], ["date", "Date: header matches", "str"],
    ["priority", "Message priority is", "priority"], ["spam", "Message is spam", "none"],
    ["size", "Message size is", "range"], ["body", "Message body matches", "str"],
    ["header", "Custom message header matches", "str"], ["any_header", "Any message header matches", "str"],
    ["attachment_name", "Attachment name matches", "str"], ["has_attachment", "Message contains an attachment", "none"],
    ["sender", "Sender matches", "str"], ["recipient", "Recipient matches", "str"],
    ["sender_is", "Sender is local or remote", "who"], ["recipient_is", "Recipient is local or remote", "who"],
    ["ip", "Sender's IP address matches", "str"], ["rdns", "rDNS (PTR) matches", "str"],
    ["trusted_ip", "Sender's IP address is trusted", "none"], ["spam_score", "Spam score is", "range"],
    ["smtp_auth", "SMTP AUTH was used", "none"], ["local_time", "Local time meets criteria", "time"],
    ["all", "All messages", "none"]
  ];
  var CONDNOTE = {
    spam: "Holds when the spam scanner marks the message as spam.",
    has_attachment: "Holds when the message has an attachment.",
    trusted_ip: "Holds when the sending server's address is one the administrator trusts.",
    smtp_auth: "Holds when the message was sent with SMTP authentication.",
    all: "Holds for every message — use with care."
  };
  var TESTS = [["contains", "Contains any of (separated by ;)"], ["regex", "Matches (regular expression)"],
    ["starts_with", "Starts with"], ["ends_with", "Ends with"], ["equals", "Equals"]];
  var PRIOS = [["highest", "Highest"], ["high", "High"], ["normal", "Normal"], ["low", "Low"], ["lowest", "Lowest"]];
  var DAYS = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"], ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];
  // Actions in the seed's order: [do, label].
  var ACTS = [
    ["accept", "Accept"], ["reject", "Reject"], ["delete", "Delete"], ["spam", "Mark as spam"],
    ["quarantine", "Quarantine"], ["stop", "Stop processing more rules"], ["forward", "Forward to email address"],
    ["move", "Move to folder"], ["copy", "Copy to folder"], ["encrypt", "Encrypt message"], ["send", "Send message"],
    ["add_header", "Add message header"], ["edit_header", "Edit message header"], ["delete_header", "Delete message header"],
    ["priority", "Set message priority"], ["flags", "Set message flags"]
  ];
  var ACTNOTE = {
    accept: "Delivers the message and processes no more rules.",
    delete: "Discards the message.",
    spam: "Files the message into Junk.",
    quarantine: "Holds the message for the administrator.",
    stop: "Processes no more rules.",
    encrypt: "Encrypts the message to your S/MIME certificate (set by the administrator or your mail program)."
  };
  var SYSFLAGS = [["\\Seen", "Read (\\Seen)"], ["\\Answered", "Answered"], ["\\Flagged", "Flagged"], ["\\Draft", "Draft"], ["\\Deleted", "Deleted"]];

  function kindOf(c) { for (var i = 0; i < CONDS.length; i++) { if (CONDS[i][0] === c) { return CONDS[i][2]; } } return "none"; }
  function labelOf(list, v) { for (var i = 0; i < list.length; i++) { if (list[i][0] === v) { return list[i][1]; } } return v; }
  function testOf(c) { for (var i = 0; i < TESTS.length; i++) { if (c[TESTS[i][0]]) { return TESTS[i][0]; } } return "contains"; }

  // The rule being edited is a draft in the API's schema, except that a
  // string test is kept as _test/_value, local as "local"/"remote", hours
  // as _hfrom/_hto and greater/lower as the typed strings.
  function draftCond(c) {
    var d = JSON.parse(JSON.stringify(c));
    var k = kindOf(d.if);
    if (k === "str") {
      d._test = testOf(d);
      d._value = d[d._test] || "";
      TESTS.forEach(function (t) { delete d[t[0]]; });
    }
    if (k === "range") {
      d.greater = d.greater === undefined ? "" : String(d.greater);
      d.lower = d.lower === undefined ? "" : String(d.lower);
    }
    if (k === "who") { d.local = d.local === false ? "remote" : "local"; d.account = d.account || "ignore"; }
    if (k === "time") {
      var h = (d.hours || "").split("-");
      d._hfrom = h[0] || ""; d._hto = h[1] || "";
      delete d.hours;
      d.days = d.days || [];
    }
    return d;
  }

  function newCond(kind) {
    var d = { if: kind };
    switch (kindOf(kind)) {
      case "str": d._test = "contains"; d._value = ""; break;
      case "priority": d.is = "high"; break;
      case "range": d.greater = ""; d.lower = ""; break;
      case "who": d.local = "local"; d.account = "ignore"; break;
      case "time": d.days = []; d._hfrom = ""; d._hto = ""; break;
    }
    return d;
  }

  function newAct(kind) {
    var a = { do: kind };
    if (kind === "priority") { a.priority = "high"; }
    if (kind === "flags") { a.flags = []; }
    return a;
  }

  // apiCond turns a draft condition into the API's schema; problems the
  // page can see itself (a number that is not one) go into probs with the
  // key the server would use.
  function apiCond(d, key, probs) {
    var c = { if: d.if };
    if (d.not) { c.not = true; }
    switch (kindOf(d.if)) {
      case "str":
        if (d.if === "header") { c.header = (d.header || "").trim(); }
        c[d._test] = d._value;
        if (d.match_case) { c.match_case = true; }
        if (d.whole_word) { c.whole_word = true; }
        break;
      case "priority": c.is = d.is; break;
      case "range":
        ["greater", "lower"].forEach(function (k) {
          var v = String(d[k] || "").trim();
          if (v === "") { return; }
          var n = Number(v);
          if (isNaN(n)) { probs.push({ key: key + "." + k, message: "Write a number." }); } else { c[k] = n; }
        });
        break;
      case "who":
        c.local = d.local !== "remote";
        if (c.local) {
          if (d.account && d.account !== "ignore") { c.account = d.account; }
          if ((d.member_of_domain || "").trim()) { c.member_of_domain = d.member_of_domain.trim(); }
          if ((d.member_of_group || "").trim()) { c.member_of_group = d.member_of_group.trim(); }
        }
        break;
      case "time":
        if (d.days && d.days.length) { c.days = d.days.slice(); }
        if (d._hfrom || d._hto) {
          if (!d._hfrom || !d._hto) { probs.push({ key: key + ".hours", message: "Give both times, or neither." }); } else { c.hours = d._hfrom + "-" + d._hto; }
        }
        ["from_date", "to_date", "timezone"].forEach(function (k) { if ((d[k] || "").trim()) { c[k] = d[k].trim(); } });
        break;
    }
    return c;
  }

  function apiAct(d) {
    var a = { do: d.do };
    var keep = { reject: ["text"], forward: ["to"], move: ["folder"], copy: ["folder"], send: ["to", "from", "subject", "text"],
      add_header: ["header", "value"], edit_header: ["header", "value"], delete_header: ["header"], priority: ["priority"] }[d.do] || [];
    keep.forEach(function (k) {
      var v = d[k] || "";
      if (k !== "text" || d.do === "reject") { v = v.trim(); }
      if (v) { a[k] = v; }
    });
    if (d.do === "flags") {
      a.flags = (d.flags || []).filter(function (f) { return f.charAt(0) === "\\"; })
        .concat((d._keywords !== undefined ? d._keywords : keywordsOf(d.flags)).split(/[\s,]+/).filter(Boolean));
    }
    return a;
  }

  function keywordsOf(flags) { return (flags || []).filter(function (f) { return f.charAt(0) !== "\\"; }).join(" "); }

  function quote(s) { return "\u201c" + s + "\u201d"; }

  // describeCond and describeAct word a rule as the seed's Description
  // area does ("Where Subject: header matches “invoice”").
  function describeCond(c) {
    var k = kindOf(c.if), s = (c.not ? "Where not " : "Where ") + labelOf(CONDS, c.if);
    switch (k) {
      case "str":
        var t = testOf(c);
        s += (c.if === "header" ? " (" + (c.header || "?") + ")" : "") + " — " + labelOf(TESTS, t).toLowerCase().replace(/ \(.*\)$/, "") +
          " " + quote(c[t] || "") + (c.match_case ? ", match case" : "") + (c.whole_word ? ", whole word" : "");
        break;
      case "priority": s += " " + (c.is || ""); break;
      case "range":
        var u = c.if === "size" ? " kB" : "";
        if (c.greater !== undefined) { s += " greater than " + c.greater + u; }
        if (c.lower !== undefined) { s += (c.greater !== undefined ? " and" : "") + " lower than " + c.lower + u; }
        break;
      case "who":
        s = (c.not ? "Where not " : "Where ") + (c.if === "sender_is" ? "sender" : "recipient") + " is " + (c.local === false ? "remote" : "local") +
          (c.account === "exists" ? ", account exists" : c.account === "missing" ? ", account does not exist" : "") +
          (c.member_of_domain ? ", member of " + c.member_of_domain : "") + (c.member_of_group ? ", member of group " + c.member_of_group : "");
        break;
      case "time":
        var p = [];
        if (c.days) { p.push(c.days.join(" ")); }
        if (c.hours) { p.push(c.hours); }
        if (c.from_date || c.to_date) { p.push((c.from_date || "…") + " to " + (c.to_date || "…")); }
        if (c.timezone) { p.push(c.timezone); }
        s += ": " + p.join(", ");
        break;
    }
    return s;
  }

  function describeAct(a) {
    var s = labelOf(ACTS, a.do);
    switch (a.do) {
      case "reject": return s + (a.text ? " with " + quote(a.text) : "");
      case "forward": return "Forward to " + (a.to || "?");
      case "move": case "copy": return s.replace(" folder", "") + " " + quote(a.folder || "?");
      case "send": return "Send message to " + (a.to || "?") + (a.subject ? " " + quote(a.subject) : "");
      case "add_header": case "edit_header": return s + " " + (a.header || "?") + ": " + (a.value || "");
      case "delete_header": return s + " " + (a.header || "?");
      case "priority": return "Set message priority to " + (a.priority || "?");
      case "flags": return "Set message flags " + (a.flags || []).join(" ");
    }
    return s;
  }

  function describeRule(r) {
    return (r.conditions || []).map(function (c, i) { var s = describeCond(c); return i ? s.replace(/^Where/, "where") : s; }).join("; and ") +
      " → " + (r.actions || []).map(describeAct).join("; then ");
  }

  var rules = [];
  var ruleBusy = false;

  function ruleName(r, i) { return r.title || "number " + (i + 1); }

  function loadRules(list) {
    rules = list || [];
    var ol = $("rules-list");
    ol.textContent = "";
    if (!rules.length) { ol.appendChild(el("li", "No rules yet.", { "class": "empty" })); }
    rules.forEach(function (r, i) {
      var name = ruleName(r, i);
      var li = el("li", null, { "class": "rule" });
      var id = uid("rule-on");
      var chk = el("div", null, { "class": "check" });
      var box = el("input", null, { type: "checkbox", id: id });
      box.dataset.rule = i; box.dataset.op = "active";
      box.checked = r.active !== false;
      box.addEventListener("change", function () { setActive(i, box.checked); });
      var lab = el("label", null, { "for": id });
      lab.appendChild(el("strong", r.title || "Rule " + (i + 1)));
      lab.appendChild(el("span", " (active)", { "class": "sr-only" }));
      chk.appendChild(box); chk.appendChild(lab);
      li.appendChild(chk);
      li.appendChild(el("p", describeRule(r), { "class": "desc" }));
      var btns = el("div", null, { "class": "btns" });
      btns.appendChild(button("Edit", function () { openEditor(i); }, "Edit rule " + name, { rule: i, op: "edit" }));
      btns.appendChild(button("Copy", function () { copyRule(i); }, "Copy rule " + name, { rule: i, op: "copy" }));
      btns.appendChild(button("Up", function () { moveRule(i, -1, "up"); }, "Move rule " + name + " up", { rule: i, op: "up" }));
      btns.appendChild(button("Down", function () { moveRule(i, 1, "down"); }, "Move rule " + name + " down", { rule: i, op: "down" }));
      btns.appendChild(button("Delete", function () { deleteRule(i); }, "Delete rule " + name, { rule: i, op: "delete" }));
      li.appendChild(btns);
      ol.appendChild(li);
    });
  }

  function focusRule(i, op) {
    var b = $("rules-list").querySelector('[data-rule="' + i + '"][data-op="' + op + '"]');
    if (b) { b.focus(); } else { $("rule-new").focus(); }
  }

  // saveRules stores the whole list; it resolves with true when saved.
  // onError gets a refusal (default: the message in the alert region).
  function saveRules(list, msg, onError) {
    if (ruleBusy) { return Promise.resolve(false); }
    ruleBusy = true;
    return api("PUT", "/api/v1/rules", list).then(function (saved) {
      ruleBusy = false;
      loadRules(saved || list);
      say(msg);
      return true;
    }, function (e) {
      ruleBusy = false;
      if (onError) { onError(e); } else { fail("Not saved: " + e.message); }
      return false;
    });
  }

  function setActive(i, on) {
    var n = rules.slice();
    n[i] = Object.assign({}, n[i]);
    if (on) { delete n[i].active; } else { n[i].active = false; }
    saveRules(n, "Rule " + ruleName(n[i], i) + (on ? " is active." : " is inactive.")).then(function () { focusRule(i, "active"); });
  }

  function moveRule(i, d, op) {
    var j = i + d;
    if (j < 0 || j >= rules.length) {
      say("Rule " + ruleName(rules[i], i) + " is already " + (d < 0 ? "first." : "last."));
      return;
    }
    var n = rules.slice(), t = n[i];
    n[i] = n[j]; n[j] = t;
    saveRules(n, "Rule " + ruleName(t, j) + " moved to position " + (j + 1) + " of " + n.length + ".").then(function (ok) {
      if (!ok) { return; }
      if (editIndex === i) { editIndex = j; } else if (editIndex === j) { editIndex = i; }
      focusRule(j, op);
    });
  }

  function copyRule(i) {
    var n = rules.slice(), c = JSON.parse(JSON.stringify(rules[i]));
    c.title = "Copy of " + (rules[i].title || "rule " + (i + 1));
    n.splice(i + 1, 0, c);
    saveRules(n, "Rule copied as " + c.title + ", position " + (i + 2) + ".").then(function (ok) {
      if (!ok) { return; }
      if (editIndex !== null && editIndex > i) { editIndex++; }
      focusRule(i + 1, "edit");
    });
  }

  function deleteRule(i) {
    var n = rules.slice(), name = ruleName(rules[i], i);
    n.splice(i, 1);
    saveRules(n, "Rule " + name + " deleted.").then(function (ok) {
      if (!ok) { return; }
      if (editIndex === i) { closeEditor(false); } else if (editIndex !== null && editIndex > i) { editIndex--; }
      focusRule(Math.min(i, n.length - 1), "edit");
    });
  }

  // --- the rule editor ---

  var editIndex = null; // null: closed; rules.length: a new rule
  var draft = null;
  var condFields = [], actFields = []; // per row: {key: control}, primary

  function openEditor(i) {
    editIndex = i === undefined ? rules.length : i;
    var r = i === undefined ? { title: "", conditions: [{ if: "subject", contains: "" }], actions: [{ do: "move", folder: "" }] } : rules[i];
    draft = {
      title: r.title || "", active: r.active !== false,
      conditions: (r.conditions || []).map(draftCond),
      actions: (r.actions || []).map(function (a) { var d = JSON.parse(JSON.stringify(a)); if (d.do === "flags") { d._keywords = keywordsOf(d.flags); } return d; })
    };
    $("rule-legend").textContent = i === undefined ? "New rule" : "Edit rule " + (i + 1) + (r.title ? ": " + r.title : "");
    $("rule-submit").textContent = i === undefined ? "Add rule" : "Save rule";
    $("rule-title").value = draft.title;
    $("rule-active").checked = draft.active;
    $("rule-form").hidden = false;
    $("rule-new").hidden = true;
    clearErrors($("rule-form"));
    renderConds();
    renderActs();
    $("rule-title").focus();
  }

  function closeEditor(refocus) {
    var was = editIndex;
    editIndex = null;
    draft = null;
    $("rule-form").hidden = true;
    $("rule-new").hidden = false;
    $("rule-conditions").textContent = "";
    $("rule-actions").textContent = "";
    if (refocus) { if (was !== null && was < rules.length) { focusRule(was, "edit"); } else { $("rule-new").focus(); } }
  }

  $("rule-new").addEventListener("click", function () { openEditor(); });
  $("rule-cancel").addEventListener("click", function () { closeEditor(true); say("Rule not changed."); });
  $("rule-title").addEventListener("input", function () { draft.title = $("rule-title").value; updateDesc(); });
  $("rule-active").addEventListener("change", function () { draft.active = $("rule-active").checked; });
  $("cond-add").addEventListener("click", function () {
    draft.conditions.push(newCond("subject"));
    renderConds();
    condFields[draft.conditions.length - 1].primary.focus();
    say("Condition " + draft.conditions.length + " added.");
  });
  $("act-add").addEventListener("click", function () {
    draft.actions.push(newAct("move"));
    renderActs();
    actFields[draft.actions.length - 1].primary.focus();
    say("Action " + draft.actions.length + " added.");
  });

  function updateDesc() {
    if (!draft) { return; }
    $("rule-desc").textContent = describeRule(apiRule([]));
  }

  // apiRule is the draft in the API's schema.
  function apiRule(probs) {
    var r = { title: draft.title.trim(), conditions: [], actions: [] };
    if (!draft.active) { r.active = false; }
    draft.conditions.forEach(function (d, j) { r.conditions.push(apiCond(d, "conditions[" + j + "]", probs)); });
    draft.actions.forEach(function (d) { r.actions.push(apiAct(d)); });
    return r;
  }

  // Small builders for the rows: each returns the control and registers
  // it under its schema key.
  function field(parent, reg, key, labelText, ctl, hint) {
    var id = uid("f");
    ctl.id = id;
    parent.appendChild(el("label", labelText, { "for": id }));
    if (hint) {
      var h = el("p", hint, { "class": "hint", id: id + "-hint" });
      parent.appendChild(h);
      ctl.setAttribute("aria-describedby", h.id);
    }
    parent.appendChild(ctl);
    if (key) { reg[key] = ctl; }
    return ctl;
  }

  function textInput(obj, prop, attrs) {
    var i = el("input", null, Object.assign({ type: "text", autocomplete: "off" }, attrs || {}));
    i.value = obj[prop] === undefined ? "" : obj[prop];
    i.addEventListener("input", function () { obj[prop] = i.value; updateDesc(); });
    return i;
  }

  function select(options, obj, prop, onchange) {
    var s = el("select");
    options.forEach(function (o) { s.appendChild(el("option", o[1], { value: o[0] })); });
    s.value = obj[prop];
    s.addEventListener("change", function () { obj[prop] = s.value; if (onchange) { onchange(); } updateDesc(); });
    return s;
  }

  function checkbox(parent, reg, key, labelText, checked, onchange) {
    var id = uid("f");
    var w = el("div", null, { "class": "check" });
    var b = el("input", null, { type: "checkbox", id: id });
    b.checked = !!checked;
    b.addEventListener("change", function () { onchange(b.checked); updateDesc(); });
    w.appendChild(b);
    w.appendChild(el("label", labelText, { "for": id }));
    parent.appendChild(w);
    if (key) { reg[key] = b; }
    return b;
  }

  function group(parent, legend) {
    var f = el("fieldset", null, { "class": "sub" });
    f.appendChild(el("legend", legend));
    parent.appendChild(f);
    return f;
  }

  // rowButtons adds Up, Down and Remove for row j of list (conditions or
  // actions); focus follows the moved row.
  function rowButtons(parent, list, j, noun, render, fields) {
    var btns = el("div", null, { "class": "btns" });
    var n = noun.toLowerCase();
    btns.appendChild(button("Up", function () { moveRow(list, j, -1, noun, render, fields, "up"); }, "Move " + n + " " + (j + 1) + " up", { row: j, op: "up" }));
    btns.appendChild(button("Down", function () { moveRow(list, j, 1, noun, render, fields, "down"); }, "Move " + n + " " + (j + 1) + " down", { row: j, op: "down" }));
    btns.appendChild(button("Remove", function () {
      list.splice(j, 1);
      render();
      say(noun + " " + (j + 1) + " removed.");
      var f = fields();
      if (f.length) { f[Math.min(j, f.length - 1)].primary.focus(); } else { $(noun === "Condition" ? "cond-add" : "act-add").focus(); }
    }, "Remove " + n + " " + (j + 1), { row: j, op: "remove" }));
    parent.appendChild(btns);
  }

  function moveRow(list, j, d, noun, render, fields, op) {
    var k = j + d;
    if (k < 0 || k >= list.length) { say(noun + " " + (j + 1) + " is already " + (d < 0 ? "first." : "last.")); return; }
    var t = list[j]; list[j] = list[k]; list[k] = t;
    render();
    say(noun + " moved to position " + (k + 1) + ".");
    var b = fields()[k].row.querySelector('[data-op="' + op + '"]');
    if (b) { b.focus(); }
  }

  // keepFocus re-renders the rows of box with build and gives the focus
  // back to the same control of the same row (a re-render replaces them).
  function keepFocus(box, build) {
    var a = document.activeElement, k = a && box.contains(a) ? a.dataset.k : "";
    box.textContent = "";
    build();
    if (k) {
      var again = box.querySelector('[data-k="' + k + '"]');
      if (again) { again.focus(); }
    }
  }

  // markRow tags the registered controls of row j (for keepFocus).
  function markRow(reg, j) {
    Object.keys(reg).forEach(function (k) { if (reg[k] && !reg[k].dataset.k) { reg[k].dataset.k = j + "." + k; } });
  }

  function renderConds() { keepFocus($("rule-conditions"), buildConds); }
  function renderActs() { keepFocus($("rule-actions"), buildActs); }

  function buildConds() {
    var box = $("rule-conditions");
    condFields = [];
    draft.conditions.forEach(function (d, j) {
      var row = el("fieldset", null, { "class": "row" });
      row.appendChild(el("legend", "Condition " + (j + 1)));
      var reg = {};
      var typeSel = select(CONDS, d, "if", function () {
        var fresh = newCond(typeSel.value);
        fresh.not = d.not;
        draft.conditions[j] = fresh;
        renderConds();
        condFields[j].reg["if"].focus();
      });
      field(row, reg, "if", "Where", typeSel);
      checkbox(row, reg, "not", "Not (the condition must not hold)", d.not, function (v) { if (v) { d.not = true; } else { delete d.not; } });
      var params = el("div", null, { "class": "params" });
      row.appendChild(params);
      var primary = condParams(params, reg, d) || typeSel;
      markRow(reg, j);
      rowButtons(row, draft.conditions, j, "Condition", renderConds, function () { return condFields; });
      box.appendChild(row);
      condFields.push({ row: row, reg: reg, primary: primary });
    });
    updateDesc();
  }

  // condParams builds the fields of condition d's kind and returns the
  // main one (row-level problems are shown next to it).
  function condParams(p, reg, d) {
    switch (kindOf(d.if)) {
      case "str":
        var first = null;
        if (d.if === "header") { first = field(p, reg, "header", "Header name", textInput(d, "header", { spellcheck: "false" }), "For example X-Mailer."); }
        field(p, reg, "_test", "Test", select(TESTS, d, "_test"));
        var v = field(p, reg, "_value", "Words", textInput(d, "_value"), "Several items separated by ; match when any does; a regular expression is RE2 syntax.");
        TESTS.forEach(function (t) { reg[t[0]] = v; });
        reg.file = v;
        checkbox(p, reg, "match_case", "Match case", d.match_case, function (x) { if (x) { d.match_case = true; } else { delete d.match_case; } });
        checkbox(p, reg, "whole_word", "Match whole word only", d.whole_word, function (x) { if (x) { d.whole_word = true; } else { delete d.whole_word; } });
        return first || v;
      case "priority":
        return field(p, reg, "is", "Priority", select(PRIOS, d, "is"));
      case "range":
        var unit = d.if === "size" ? " (kB)" : " (score)";
        var g = field(p, reg, "greater", "Greater than" + unit, textInput(d, "greater", { inputmode: "decimal" }), "Give one or both bounds.");
        field(p, reg, "lower", "Lower than" + unit, textInput(d, "lower", { inputmode: "decimal" }));
        return g;
      case "who":
        var loc = field(p, reg, "local", (d.if === "sender_is" ? "Sender" : "Recipient") + " address is",
          select([["local", "Local (a domain of this server)"], ["remote", "Remote"]], d, "local", function () { renderConds(); }));
        if (d.local !== "remote") {
          field(p, reg, "account", "Account", select([["ignore", "Ignore"], ["exists", "Account exists"], ["missing", "Account does not exist"]], d, "account"));
          field(p, reg, "member_of_domain", "Member of domain (optional)", textInput(d, "member_of_domain", { spellcheck: "false" }));
          field(p, reg, "member_of_group", "Member of group (optional)", textInput(d, "member_of_group", { spellcheck: "false" }));
        }
        return loc;
      case "time":
        var days = group(p, "Days (none: every day)");
        var firstDay = null;
        DAYS.forEach(function (x) {
          var b = checkbox(days, null, null, x[1], (d.days || []).indexOf(x[0]) >= 0, function (on) {
            d.days = DAYS.map(function (y) { return y[0]; }).filter(function (k) {
              return k === x[0] ? on : d.days.indexOf(k) >= 0;
            });
          });
          if (!firstDay) { firstDay = b; }
        });
        reg.days = firstDay;
        var hours = group(p, "Hours (may pass midnight; the end is excluded)");
        field(hours, reg, "hours", "From time", textInput(d, "_hfrom", { type: "time" }));
        field(hours, reg, "_hto", "To time", textInput(d, "_hto", { type: "time" }));
        var dates = group(p, "Dates (both included)");
        field(dates, reg, "from_date", "From date", textInput(d, "from_date", { type: "date" }));
        field(dates, reg, "to_date", "To date", textInput(d, "to_date", { type: "date" }));
        field(p, reg, "timezone", "Time zone (empty: the server's)", textInput(d, "timezone", { list: "tz-list", spellcheck: "false" }));
        return firstDay;
      default:
        if (CONDNOTE[d.if]) { p.appendChild(el("p", CONDNOTE[d.if], { "class": "hint" })); }
        return null;
    }
  }

  function buildActs() {
    var box = $("rule-actions");
    actFields = [];
    draft.actions.forEach(function (d, j) {
      var row = el("fieldset", null, { "class": "row" });
      row.appendChild(el("legend", "Action " + (j + 1)));
      var reg = {};
      var typeSel = select(ACTS, d, "do", function () {
        draft.actions[j] = newAct(typeSel.value);
        renderActs();
        actFields[j].reg["do"].focus();
      });
      field(row, reg, "do", "Do", typeSel);
      var params = el("div", null, { "class": "params" });
      row.appendChild(params);
      var primary = actParams(params, reg, d) || typeSel;
      markRow(reg, j);
      rowButtons(row, draft.actions, j, "Action", renderActs, function () { return actFields; });
      box.appendChild(row);
      actFields.push({ row: row, reg: reg, primary: primary });
    });
    updateDesc();
  }

  function actParams(p, reg, d) {
    var varsHint = "Variables such as %%Subject%% and %%From_Name%% are replaced (see the list under Responder).";
    switch (d.do) {
      case "reject":
        return field(p, reg, "text", "Reply text (optional, one line)", textInput(d, "text"));
      case "forward":
        return field(p, reg, "to", "To address", textInput(d, "to", { inputmode: "email", spellcheck: "false" }));
      case "move": case "copy":
        return field(p, reg, "folder", "Folder", textInput(d, "folder", { list: "folder-list" }),
          "A missing folder is created; levels are separated by /. %%Extension%% is the folder named in the address (john+Folder@…).");
      case "send":
        var to = field(p, reg, "to", "To", textInput(d, "to", { inputmode: "email", spellcheck: "false" }), "One address, or %%Sender%%.");
        field(p, reg, "from", "From (empty: your address)", textInput(d, "from", { inputmode: "email", spellcheck: "false" }));
        field(p, reg, "subject", "Subject", textInput(d, "subject"), varsHint);
        var ta = el("textarea", null, { rows: "4" });
        ta.value = d.text || "";
        ta.addEventListener("input", function () { d.text = ta.value; updateDesc(); });
        field(p, reg, "text", "Message text", ta, varsHint);
        return to;
      case "add_header": case "edit_header": case "delete_header":
        var h = field(p, reg, "header", "Header name", textInput(d, "header", { spellcheck: "false" }), "For example X-Project.");
        if (d.do !== "delete_header") { field(p, reg, "value", "Value", textInput(d, "value"), varsHint); }
        return h;
      case "priority":
        return field(p, reg, "priority", "Priority", select(PRIOS, d, "priority"));
      case "flags":
        var g = group(p, "Flags");
        var firstFlag = null;
        SYSFLAGS.forEach(function (x) {
          var b = checkbox(g, null, null, x[1], (d.flags || []).indexOf(x[0]) >= 0, function (on) {
            var rest = (d.flags || []).filter(function (f) { return f !== x[0]; });
            d.flags = on ? rest.concat([x[0]]) : rest;
          });
          if (!firstFlag) { firstFlag = b; }
        });
        var kw = field(p, reg, "flags", "Keywords (separated by spaces)", textInput(d, "_keywords", { spellcheck: "false" }), "For example $Label1 or Billing.");
        return firstFlag || kw;
      default:
        if (ACTNOTE[d.do]) { p.appendChild(el("p", ACTNOTE[d.do], { "class": "hint" })); }
        return null;
    }
  }

  // ruleControl finds the editor's control for a key relative to the
  // rule ("conditions[1].regex", "actions[0].to", "title").
  function ruleControl(k) {
    if (k === "title") { return $("rule-title"); }
    if (k === "conditions") { return $("cond-add"); }
    if (k === "actions") { return $("act-add"); }
    if (k === "active") { return $("rule-active"); }
    var m = /^(conditions|actions)\[(\d+)\](?:\.([a-z_]+))?/.exec(k);
    if (!m) { return null; }
    var rows = m[1] === "conditions" ? condFields : actFields, row = rows[parseInt(m[2], 10)];
    if (!row) { return null; }
    return (m[3] && row.reg[m[3]]) || row.primary;
  }

  $("rule-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!draft) { return; }
    var f = $("rule-form"), probs = [];
    clearErrors(f);
    var r = apiRule(probs);
    var idx = editIndex, prefix = "rules[" + idx + "]";
    var lookup = function (key) {
      if (key === prefix) { return $("rule-title"); }
      if (key.indexOf(prefix + ".") !== 0) { return null; }
      return ruleControl(key.slice(prefix.length + 1));
    };
    if (probs.length) {
      showErrors(f, { fields: probs.map(function (p) { return { key: prefix + "." + p.key, message: p.message }; }) }, lookup, "The rule was not saved");
      return;
    }
    var n = rules.slice(), isNew = idx >= rules.length;
    if (isNew) { n.push(r); } else { n[idx] = r; }
    saveRules(n, isNew ? "Rule " + ruleName(r, idx) + " added as number " + (idx + 1) + "." : "Rule " + ruleName(r, idx) + " saved.", function (e) {
      showErrors(f, e, lookup, "The rule was not saved");
    }).then(function (ok) {
      if (ok) { closeEditor(false); focusRule(idx, "edit"); }
    });
  });

  // --- sharing (the seed's permission sets) ---

  var SETS = ["read", "write", "modify", "delete", "administer"];

  function syncCustom() { $("share-custom").hidden = $("share-rights").value !== "custom"; }
  $("share-rights").addEventListener("change", syncCustom);

  // setRights puts a grant's set ("Read, Write", "Full", "Custom (lrsp)")
  // into the permissions select and the custom fields.
  function setRights(set, letters) {
    var t = (set || "").toLowerCase(), names = t.split(/,\s*/);
    SETS.forEach(function (n) { $("share-c-" + n).checked = false; });
    $("share-letters").value = "";
    if (["none", "all", "full"].indexOf(t) >= 0 || (names.length === 1 && SETS.indexOf(t) >= 0)) {
      $("share-rights").value = t;
    } else if (/^custom/.test(t) || names.some(function (n) { return SETS.indexOf(n) < 0; })) {
      $("share-rights").value = "custom";
      $("share-letters").value = letters || "";
    } else {
      $("share-rights").value = "custom";
      names.forEach(function (n) { $("share-c-" + n).checked = true; });
    }
    syncCustom();
  }

  function loadShares(s) {
    s = s || {};
    // Keep the folder chosen before a reload of the list; the first
    // time, the first folder (INBOX), never the whole account by default.
    var sel = $("share-folder"), keep = sel.options.length ? sel.value : undefined;
    sel.textContent = "";
    var dl = $("folder-list");
    dl.textContent = "";
    (s.folders || []).forEach(function (f) { sel.appendChild(el("option", f, { value: f })); dl.appendChild(el("option", null, { value: f })); });
    sel.appendChild(el("option", "(my whole account)", { value: "" }));
    if (keep !== undefined && Array.prototype.some.call(sel.options, function (o) { return o.value === keep; })) { sel.value = keep; }
    var tb = $("shares-list");
    tb.textContent = "";
    if (!(s.shared || []).length) {
      var tr0 = el("tr"); tr0.appendChild(el("td", "You share nothing.", { colspan: "4" })); tb.appendChild(tr0);
    }
    (s.shared || []).forEach(function (g) {
      var what = (g.folder || "the whole account") + " with " + g.grantee;
      var tr = el("tr");
      tr.appendChild(el("td", g.folder || "(whole account)"));
      tr.appendChild(el("td", g.grantee));
      tr.appendChild(el("td", (g.set || g.rights) + (g.set && g.set.indexOf("Custom") !== 0 ? " (" + g.rights + ")" : "")));
      var td = el("td");
      td.appendChild(button("Change", function () {
        $("share-folder").value = g.folder;
        $("share-with").value = g.grantee;
        setRights(g.set, g.rights);
        $("share-rights").focus();
        say("Change the permissions of " + what + ", then press Share.");
      }, "Change sharing of " + what));
      td.appendChild(button("Remove", function () {
        api("PUT", "/api/v1/shares", { folder: g.folder, grantee: g.grantee, set: "none" }).then(function (j) { say("Sharing of " + what + " removed."); loadShares(j); $("share-with").focus(); }, function (e) { fail(e.message); });
      }, "Stop sharing " + what));
      tr.appendChild(td);
      tb.appendChild(tr);
    });
    var ul = $("shared-with-me");
    ul.textContent = "";
    if (!(s.shared_with_me || []).length) { ul.appendChild(el("li", "Nothing is shared with you.")); }
    (s.shared_with_me || []).forEach(function (m) {
      var li = el("li", m.owner + ": " + m.folder + " (" + (m.set || m.rights) + (m.subscribed ? ", subscribed" : "") + ") ");
      li.appendChild(button(m.subscribed ? "Decline" : "Subscribe", function () {
        api("PUT", "/api/v1/shared-with-me", { name: m.name, subscribed: !m.subscribed })
          .then(function (j) { say(m.subscribed ? "Declined: hidden from your folder list." : "Subscribed."); loadShares(j); }, function (e) { fail(e.message); });
      }, (m.subscribed ? "Decline " : "Subscribe to ") + m.folder + " of " + m.owner));
      ul.appendChild(li);
    });
  }

  var shareFields = { folder: "share-folder", grantee: "share-with" };

  $("share-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = $("share-form");
    clearErrors(f);
    var set = $("share-rights").value;
    var lookup = function (k) { return shareFields[k] ? $(shareFields[k]) : (k === "set" ? (set === "custom" ? $("share-letters") : $("share-rights")) : null); };
    if (set === "custom") {
      set = $("share-letters").value.trim() || SETS.filter(function (n) { return $("share-c-" + n).checked; }).join("+");
      if (!set) { showErrors(f, { fields: [{ key: "set", message: "Tick at least one permission, or give rights letters." }] }, function () { return $("share-c-read"); }, "Nothing was shared"); return; }
    }
    if (!$("share-with").value.trim()) { showErrors(f, { fields: [{ key: "grantee", message: "Give the address or group to share with." }] }, lookup, "Nothing was shared"); return; }
    api("PUT", "/api/v1/shares", { folder: $("share-folder").value, grantee: $("share-with").value.trim(), set: set })
      .then(function (j) { $("share-with").value = ""; say(set === "none" ? "Sharing removed." : "Sharing saved."); loadShares(j); },
        function (e) { showErrors(f, e, lookup, "Nothing was shared"); });
  });

  // Start: an existing session (cookie) goes straight to the settings.
  api("GET", "/api/v1/me").then(function (s) { csrf = s.csrf_token || ""; showApp(s); }, function () { showLogin(); });
}());
