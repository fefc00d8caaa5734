// Floe settings page: a small script over /api/v1/ (docs/api.md). No
// framework, no build step. Every control has a label; status messages go
// to live regions so screen readers announce them.
"use strict";
(function () {
  var csrf = "";
  var $ = function (id) { return document.getElementById(id); };

  function say(msg) { $("alert").textContent = ""; $("status").textContent = msg; }
  function fail(msg) { $("status").textContent = ""; $("alert").textContent = msg; }

  // api calls the settings API; it resolves with the parsed JSON (or null)
  // and rejects with the server's message.
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

  function button(text, onclick, label) {
    var b = el("button", text, { type: "button" });
    if (label) { b.setAttribute("aria-label", label); }
    b.addEventListener("click", onclick);
    return b;
  }

  function bytes(n) {
    var u = ["bytes", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }

  // --- session ---

  function showApp(address) {
    $("login-section").hidden = true;
    $("app").hidden = false;
    $("who").hidden = false;
    $("who-address").textContent = address;
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
      .then(function (s) { csrf = s.csrf_token; $("login-password").value = ""; say("Logged in as " + s.address + "."); showApp(s.address); })
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

  $("password-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if ($("pw-new").value !== $("pw-new2").value) { fail("The two new passwords differ."); $("pw-new2").focus(); return; }
    api("POST", "/api/v1/password", { old_password: $("pw-old").value, new_password: $("pw-new").value })
      .then(function (r) { ["pw-old", "pw-new", "pw-new2"].forEach(function (i) { $(i).value = ""; }); say(r.message || "Password changed."); })
      .catch(function (e) { fail(e.message); });
  });

  function loadAppPasswords() {
    api("GET", "/api/v1/app-passwords").then(function (list) {
      var ul = $("apppw-list");
      ul.textContent = "";
      if (!list.length) { ul.appendChild(el("li", "No app passwords yet.")); }
      list.forEach(function (p) {
        var li = el("li", p.label + " — created " + p.created.slice(0, 10) + (p.last_used ? ", last used " + p.last_used.slice(0, 10) : ", never used") + " ");
        li.appendChild(button("Revoke", function () {
          api("DELETE", "/api/v1/app-passwords/" + p.id).then(function () { say("App password " + p.label + " revoked."); loadAppPasswords(); }, function (e) { fail(e.message); });
        }, "Revoke app password " + p.label));
        ul.appendChild(li);
      });
    }, function (e) { fail(e.message); });
  }

  $("apppw-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    api("POST", "/api/v1/app-passwords", { label: $("apppw-label").value }).then(function (p) {
      $("apppw-label").value = "";
      var out = $("apppw-new");
      out.hidden = false;
      out.textContent = "New app password for " + p.label + ": " + p.password + " — copy it now; it is not shown again.";
      out.focus();
      loadAppPasswords();
    }, function (e) { fail(e.message); });
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

  // --- forwarder and responder (the rules schema of docs/rules.md) ---

  function loadForwarder(f) {
    $("fwd-to").value = f && f.to ? f.to.join(", ") : "";
    $("fwd-keep").checked = !f || !f.to || !!f.keep_copy;
  }

  $("forwarder-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var to = $("fwd-to").value.split(/[,;\s]+/).filter(Boolean);
    api("PUT", "/api/v1/forwarder", to.length ? { to: to, keep_copy: $("fwd-keep").checked } : null)
      .then(function () { say(to.length ? "Forwarder saved." : "Forwarding turned off."); }, function (e) { fail(e.message); });
  });

  function loadResponder(r) {
    r = r || {};
    $("resp-mode").value = r.mode || "disabled";
    $("resp-days").value = r.again_after_days || 0;
    $("resp-from").value = r.from_date || "";
    $("resp-to").value = r.to_date || "";
    $("resp-exclude").value = (r.exclude || []).join("\n");
    $("resp-sender").value = r.from || "";
    $("resp-subject").value = r.subject || "Re: %%Subject%%";
    $("resp-text").value = r.text || "";
  }

  $("responder-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var r = {
      mode: $("resp-mode").value,
      again_after_days: parseInt($("resp-days").value, 10) || 0,
      from_date: $("resp-from").value,
      to_date: $("resp-to").value,
      exclude: $("resp-exclude").value.split(/\s+/).filter(Boolean),
      from: $("resp-sender").value,
      subject: $("resp-subject").value,
      text: $("resp-text").value
    };
    api("PUT", "/api/v1/responder", r).then(function () { say("Responder saved."); }, function (e) { fail(e.message); });
  });

  // --- rules ---

  var conditions = [
    ["from", "From: header matches"], ["to", "To: header matches"], ["subject", "Subject: header matches"],
    ["cc", "Cc: header matches"], ["reply_to", "Reply-To: header matches"], ["date", "Date: header matches"],
    ["body", "Message body matches"], ["header", "Custom message header matches"], ["any_header", "Any message header matches"],
    ["attachment_name", "Attachment name matches"], ["has_attachment", "Message contains an attachment"],
    ["sender", "Sender matches"], ["recipient", "Recipient matches"], ["ip", "Sender's IP address matches"],
    ["rdns", "rDNS (PTR) matches"], ["spam", "Message is spam"], ["trusted_ip", "Sender's IP address is trusted"],
    ["smtp_auth", "SMTP AUTH was used"], ["all", "All messages"],
    ["priority", "Message priority is (value: highest, high, normal, low, lowest)"],
    ["size", "Message size is (value: >100 or <20, in kB)"], ["spam_score", "Spam score is (value: >5.0 or <1)"],
    ["sender_is", "Sender is (value: local or remote)"], ["recipient_is", "Recipient is (value: local or remote)"],
    ["local_time", "Local time meets criteria (value: mon tue wed 09:00-17:00)"]
  ];
  // Conditions without a string test; those with a value read it in
  // valueCondition.
  var noString = { has_attachment: 1, spam: 1, trusted_ip: 1, smtp_auth: 1, all: 1, priority: 1, size: 1,
    spam_score: 1, sender_is: 1, recipient_is: 1, local_time: 1 };
  var actions = [
    ["move", "Move to folder"], ["copy", "Copy to folder"], ["forward", "Forward to email address"],
    ["flags", "Set message flags"], ["spam", "Mark as spam"], ["delete", "Delete"], ["reject", "Reject"],
    ["accept", "Accept"], ["quarantine", "Quarantine"], ["priority", "Set message priority"], ["encrypt", "Encrypt message"],
    ["add_header", "Add header (Name: value)"], ["edit_header", "Edit header (Name: value)"], ["delete_header", "Delete header (Name)"]
  ];

  // valueCondition fills the fields of a condition whose value is not a
  // string test (size, priority, ...); it returns an error text or "".
  function valueCondition(c, v) {
    v = v.trim();
    var m;
    switch (c.if) {
      case "priority": c.is = v || "normal"; break;
      case "size": case "spam_score":
        m = /^([<>])\s*([0-9.]+)$/.exec(v);
        if (!m) { return "Write the value as >NUMBER or <NUMBER."; }
        c[m[1] === ">" ? "greater" : "lower"] = parseFloat(m[2]);
        break;
      case "sender_is": case "recipient_is":
        if (v !== "local" && v !== "remote") { return "Write the value as local or remote."; }
        c.local = v === "local";
        break;
      case "local_time":
        v.toLowerCase().split(/[\s,]+/).filter(Boolean).forEach(function (w) {
          if (/^\d\d:\d\d-\d\d:\d\d$/.test(w)) { c.hours = w; } else { (c.days = c.days || []).push(w); }
        });
        break;
    }
    return "";
  }

  function conditionValue(c) {
    if (c.is) { return c.is; }
    if (c.greater !== undefined) { return ">" + c.greater; }
    if (c.lower !== undefined) { return "<" + c.lower; }
    if (c.local !== undefined) { return c.local ? "local" : "remote"; }
    if (c.days || c.hours) { return (c.days || []).concat(c.hours ? [c.hours] : []).join(" "); }
    return c.contains || c.regex || c.starts_with || c.ends_with || c.equals || "";
  }
  conditions.forEach(function (c) { $("rule-if").appendChild(el("option", c[1], { value: c[0] })); });
  actions.forEach(function (a) { $("rule-action").appendChild(el("option", a[1], { value: a[0] })); });

  var rules = [];

  function label(list, v) { for (var i = 0; i < list.length; i++) { if (list[i][0] === v) { return list[i][1]; } } return v; }

  function describe(r) {
    var c = (r.conditions || [])[0] || {}, a = (r.actions || []).filter(function (x) { return x.do !== "stop"; })[0] || {};
    var v = conditionValue(c);
    return (c.not ? "not " : "") + label(conditions, c.if).replace(/ \(value:.*\)$/, "") + (v ? " \"" + v + "\"" : "") + " → " +
      label(actions, a.do).replace(/ \(.*\)$/, "") + (a.folder || a.to ? " " + (a.folder || a.to) : "") +
      (a.flags ? " " + a.flags.join(" ") : "") + (a.header ? " " + a.header + (a.value ? ": " + a.value : "") : "") +
      (a.priority ? " " + a.priority : "");
  }

  function loadRules(list) {
    rules = list || [];
    var ol = $("rules-list");
    ol.textContent = "";
    if (!rules.length) { ol.appendChild(el("li", "No rules yet.")); }
    rules.forEach(function (r, i) {
      var li = el("li");
      li.appendChild(el("span", (r.title || "Rule " + (i + 1)) + (r.active === false ? " (inactive)" : "") + ": " + describe(r) + " "));
      li.appendChild(button("Up", function () { move(i, -1); }, "Move rule " + (r.title || i + 1) + " up"));
      li.appendChild(button("Down", function () { move(i, 1); }, "Move rule " + (r.title || i + 1) + " down"));
      li.appendChild(button("Edit", function () { edit(i); }, "Edit rule " + (r.title || i + 1)));
      li.appendChild(button("Delete", function () { var n = rules.slice(); n.splice(i, 1); saveRules(n, "Rule deleted."); }, "Delete rule " + (r.title || i + 1)));
      ol.appendChild(li);
    });
  }

  function saveRules(list, msg) {
    return api("PUT", "/api/v1/rules", list).then(function (saved) { loadRules(saved || list); say(msg); return true; },
      function (e) { fail(e.message); return false; });
  }

  function move(i, d) {
    var j = i + d;
    if (j < 0 || j >= rules.length) { return; }
    var n = rules.slice(), t = n[i];
    n[i] = n[j]; n[j] = t;
    saveRules(n, "Rule moved to position " + (j + 1) + ".");
  }

  function edit(i) {
    var r = rules[i], c = (r.conditions || [])[0] || {}, acts = r.actions || [], a = acts.filter(function (x) { return x.do !== "stop"; })[0] || {};
    $("rule-index").value = String(i);
    $("rule-title").value = r.title || "";
    $("rule-active").checked = r.active !== false;
    $("rule-if").value = c.if || "subject";
    $("rule-not").checked = !!c.not;
    var tests = ["contains", "regex", "starts_with", "ends_with", "equals"];
    var t = tests.filter(function (k) { return c[k]; })[0] || "contains";
    $("rule-test").value = t;
    $("rule-value").value = noString[c.if] ? conditionValue(c) : (c[t] || "");
    $("rule-header").value = c.header || "";
    $("rule-case").checked = !!c.match_case;
    $("rule-word").checked = !!c.whole_word;
    $("rule-action").value = a.do || "move";
    $("rule-arg").value = a.folder || a.to || (a.flags || []).join(" ") || a.priority ||
      (a.header ? a.header + (a.value ? ": " + a.value : "") : "");
    $("rule-stop").checked = acts.some(function (x) { return x.do === "stop"; });
    $("rule-legend").textContent = "Edit rule " + (i + 1);
    $("rule-submit").textContent = "Save rule";
    $("rule-cancel").hidden = false;
    $("rule-title").focus();
  }

  function resetRuleForm() {
    $("rule-form").reset();
    $("rule-index").value = "";
    $("rule-legend").textContent = "Add a rule";
    $("rule-submit").textContent = "Add rule";
    $("rule-cancel").hidden = true;
  }
  $("rule-cancel").addEventListener("click", resetRuleForm);

  $("rule-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var c = { if: $("rule-if").value };
    if ($("rule-not").checked) { c.not = true; }
    if (!noString[c.if]) {
      c[$("rule-test").value] = $("rule-value").value;
      if ($("rule-case").checked) { c.match_case = true; }
      if ($("rule-word").checked) { c.whole_word = true; }
      if (c.if === "header") { c.header = $("rule-header").value; }
    } else {
      var problem = valueCondition(c, $("rule-value").value);
      if (problem) { fail(problem); $("rule-value").focus(); return; }
    }
    var a = { do: $("rule-action").value }, arg = $("rule-arg").value.trim();
    if (a.do === "move" || a.do === "copy") { a.folder = arg; }
    if (a.do === "forward") { a.to = arg; }
    if (a.do === "flags") { a.flags = arg.split(/\s+/).filter(Boolean); }
    if (a.do === "priority") { a.priority = arg || "normal"; }
    if (a.do === "add_header" || a.do === "edit_header" || a.do === "delete_header") {
      var k = arg.indexOf(":");
      a.header = (k < 0 ? arg : arg.slice(0, k)).trim();
      if (k >= 0 && a.do !== "delete_header") { a.value = arg.slice(k + 1).trim(); }
    }
    var r = { title: $("rule-title").value, conditions: [c], actions: [a] };
    if (!$("rule-active").checked) { r.active = false; }
    if ($("rule-stop").checked) { r.actions.push({ do: "stop" }); }
    var n = rules.slice(), idx = $("rule-index").value;
    if (idx === "") { n.push(r); } else { n[parseInt(idx, 10)] = r; }
    saveRules(n, idx === "" ? "Rule added." : "Rule saved.").then(function (ok) { if (ok) { resetRuleForm(); } });
  });

  // --- sharing ---

  function loadShares(s) {
    s = s || {};
    var sel = $("share-folder");
    sel.textContent = "";
    (s.folders || []).forEach(function (f) { sel.appendChild(el("option", f, { value: f })); });
    sel.appendChild(el("option", "(my whole account)", { value: "" }));
    var tb = $("shares-list");
    tb.textContent = "";
    (s.shared || []).forEach(function (g) {
      var tr = el("tr");
      tr.appendChild(el("td", g.folder || "(whole account)"));
      tr.appendChild(el("td", g.grantee));
      tr.appendChild(el("td", g.set || g.rights));
      var td = el("td");
      td.appendChild(button("Remove", function () {
        api("PUT", "/api/v1/shares", { folder: g.folder, grantee: g.grantee, set: "none" }).then(function (j) { say("Sharing removed."); loadShares(j); }, function (e) { fail(e.message); });
      }, "Stop sharing " + (g.folder || "the whole account") + " with " + g.grantee));
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

  $("share-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    api("PUT", "/api/v1/shares", { folder: $("share-folder").value, grantee: $("share-with").value, set: $("share-rights").value })
      .then(function (j) { $("share-with").value = ""; say("Sharing saved."); loadShares(j); }, function (e) { fail(e.message); });
  });

  // Start: an existing session (cookie) goes straight to the settings.
  api("GET", "/api/v1/me").then(function (s) { csrf = s.csrf_token || ""; showApp(s.address); }, function () { showLogin(); });
}());
