// Drives Floe's settings page in Debian's chromium (headless) with
// playwright-core, as a person would: log in, change the password, create
// an app password, set the responder (between dates), build rules with
// several conditions and actions, reorder them by keyboard, share a
// folder with a seed permission set and with custom permissions. It checks
// that every control has a label and every group a legend (for every
// condition and action the rule editor offers), the keyboard order, that a
// refused value is shown next to its field, and that the page fits a
// phone. Screenshots go to FLOE_SHOTS. Prints one JSON object for the Go
// test (server/interop/browser_test.go), which checks the effects over
// SMTP and IMAP.
//
// Environment: FLOE_URL, FLOE_USER, FLOE_PASS, FLOE_NEWPASS, FLOE_SHOTS,
// FLOE_PROFILE (a fresh --user-data-dir), FLOE_STEPS (comma-separated
// extra steps: "responder", "rule", "share" when the server offers them),
// FLOE_RESP_FROM and FLOE_RESP_TO (the responder's dates, YYYY-MM-DD),
// FLOE_SHARE_FOLDER, FLOE_SHARE_WITH.
import { chromium } from "playwright-core";

const env = process.env;
const out = { labels_missing: [], legends_missing: [], steps: [] };
const shot = async (page, name) => {
  await page.screenshot({ path: `${env.FLOE_SHOTS}/${name}.png`, fullPage: true });
  out.steps.push(name);
};

// unlabelled lists the form controls without a label (label[for], a
// wrapping label, or aria-label/aria-labelledby: an axe "label" rule
// check) and the fieldsets without a legend.
const unlabelled = (page) => page.evaluate(() => {
  const bad = [], noLegend = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    const byFor = el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
    const named = el.closest("label") || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!byFor && !named) bad.push(el.id || el.outerHTML.slice(0, 60));
  }
  for (const f of document.querySelectorAll("fieldset")) {
    const l = f.querySelector(":scope > legend");
    if (!l || !l.textContent.trim()) noLegend.push(f.id || f.outerHTML.slice(0, 60));
  }
  return { bad, noLegend };
});
const addLabelProblems = async (page, where) => {
  const r = await unlabelled(page);
  for (const b of r.bad) out.labels_missing.push(`${where}: ${b}`);
  for (const b of r.noLegend) out.legends_missing.push(`${where}: ${b}`);
};

const status = (page, re) => page.waitForFunction((src) => new RegExp(src, "i").test(document.querySelector("#status").textContent), re.source);
const alertText = (page) => page.textContent("#alert");
const focused = (page) => page.evaluate(() => {
  const a = document.activeElement;
  return a ? (a.getAttribute("aria-label") || a.id || a.textContent.trim()) : "";
});

// A fresh profile directory (Playwright passes it as --user-data-dir).
const ctx = await chromium.launchPersistentContext(env.FLOE_PROFILE, {
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  ignoreHTTPSErrors: true,
  viewport: { width: 1024, height: 900 },
});
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(20000);
  const consoleErrors = [];
  // Script errors and CSP violations; not the API's refusals (a 401 before
  // logging in, the 400s this test provokes), which chromium logs too.
  page.on("console", (m) => { if (m.type() === "error" && !/^Failed to load resource/.test(m.text())) consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  out.console_errors = consoleErrors;
  await page.goto(env.FLOE_URL);
  await page.waitForSelector("#login-form");
  await shot(page, "01-login");
  await addLabelProblems(page, "page");

  // Keyboard: the address field has focus, Tab goes to the password, then
  // to the button.
  out.focus = [await focused(page)];
  await page.keyboard.press("Tab");
  out.focus.push(await focused(page));
  await page.keyboard.press("Tab");
  out.focus.push(await focused(page));

  // Log in by keyboard.
  await page.focus("#login-address");
  await page.keyboard.type(env.FLOE_USER);
  await page.keyboard.press("Tab");
  await page.keyboard.type(env.FLOE_PASS);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#app:not([hidden])");
  await page.waitForFunction(() => !document.querySelector("#quota-text").textContent.startsWith("Loading"));
  out.quota = await page.textContent("#quota-text");
  out.activation_key = await page.textContent("#activation-key");
  out.client_rows = await page.locator("#clients-table tr").count();
  out.password_label = await page.textContent("label[for=pw-new]");
  out.password_minlength = await page.getAttribute("#pw-new", "minlength");
  await shot(page, "02-settings");

  // A password that is too short is refused next to its field.
  await page.fill("#pw-old", env.FLOE_PASS);
  await page.fill("#pw-new", "short");
  await page.fill("#pw-new2", "short");
  await page.click("#password-form button[type=submit]");
  await page.waitForSelector("#pw-new[aria-invalid=true]");
  out.password_error = await page.textContent("#password-form .field-error");
  out.password_error_focus = await focused(page);

  // Change the password.
  await page.fill("#pw-new", env.FLOE_NEWPASS);
  await page.fill("#pw-new2", env.FLOE_NEWPASS);
  await page.click("#password-form button[type=submit]");
  await status(page, /password changed/);
  out.password_status = await page.textContent("#status");
  out.password_errors_cleared = await page.locator("#password-form .field-error").count() === 0;
  await shot(page, "03-password-changed");

  // Create an app password.
  await page.fill("#apppw-label", "browser test");
  await page.click("#apppw-form button[type=submit]");
  await page.waitForSelector("#apppw-new:not([hidden])");
  const text = await page.textContent("#apppw-new");
  out.app_password = (text.match(/[a-z2-9]{5}(-[a-z2-9]{5}){3}/) || [""])[0];
  await page.waitForFunction(() => document.querySelector("#apppw-list").textContent.includes("browser test"));
  await shot(page, "04-app-password");

  const steps = (env.FLOE_STEPS || "").split(",").filter(Boolean);
  if (steps.includes("responder")) {
    await page.waitForSelector("#responder-form", { state: "visible" });
    await page.selectOption("#resp-mode", "once");
    // The dates the wrong way round: the server's message is shown next
    // to the "To date" field, which gets the focus.
    await page.fill("#resp-from", env.FLOE_RESP_TO);
    await page.fill("#resp-to", env.FLOE_RESP_FROM);
    await page.fill("#resp-exclude", "nobody@example.net\nexample.com");
    await page.fill("#resp-sender", env.FLOE_USER);
    await page.fill("#resp-subject", "Away: %%Subject%%");
    await page.fill("#resp-text", "Dear %%From_Name%%, I am away (browser test).");
    await page.click("#responder-form button[type=submit]");
    await page.waitForSelector("#resp-to[aria-invalid=true]");
    out.responder_error = await page.textContent("#responder-form .field-error");
    out.responder_error_focus = await focused(page);
    await shot(page, "05-responder-error");
    await page.fill("#resp-from", env.FLOE_RESP_FROM);
    await page.fill("#resp-to", env.FLOE_RESP_TO);
    await page.click("#responder-form button[type=submit]");
    await status(page, /responder saved/);
    await shot(page, "05-responder");
  }

  if (steps.includes("rule")) {
    const row = (kind, i) => page.locator(`#rule-${kind} > fieldset.row`).nth(i);
    const lab = (loc, name) => loc.getByLabel(name, { exact: true });

    // Every condition and action the editor offers: all controls
    // labelled, all groups with a legend.
    await page.click("#rule-new");
    await page.waitForSelector("#rule-form:not([hidden])");
    out.rule_new_focus = await focused(page);
    const conds = await lab(row("conditions", 0), "Where").evaluate((s) => [...s.options].map((o) => o.value));
    for (const c of conds) {
      await lab(row("conditions", 0), "Where").selectOption(c);
      if (c === "sender_is") await lab(row("conditions", 0), "Sender address is").selectOption("local");
      await addLabelProblems(page, "condition " + c);
    }
    const acts = await lab(row("actions", 0), "Do").evaluate((s) => [...s.options].map((o) => o.value));
    for (const a of acts) {
      await lab(row("actions", 0), "Do").selectOption(a);
      await addLabelProblems(page, "action " + a);
    }
    out.conditions_offered = conds;
    out.actions_offered = acts;
    await page.click("#rule-cancel");

    // Rule 1: three conditions (one negated), two actions.
    await page.click("#rule-new");
    await page.fill("#rule-title", "Invoices");
    const c0 = row("conditions", 0);
    await lab(c0, "Where").selectOption("subject");
    // An invalid regular expression: refused, shown next to its field.
    await lab(c0, "Test").selectOption("regex");
    await lab(c0, "Words").fill("(");
    await lab(row("actions", 0), "Folder").fill("Invoices");
    await page.click("#rule-submit");
    await page.waitForSelector("#rule-conditions .field-error");
    out.rule_error = await c0.locator(".field-error").textContent();
    out.rule_error_invalid = await lab(c0, "Words").getAttribute("aria-invalid");
    out.rule_error_focus = await page.evaluate(() => document.activeElement === document.querySelector("#rule-conditions fieldset.row input[aria-invalid=true]"));
    out.rule_error_alert = await alertText(page);
    await shot(page, "06-rule-error");
    await lab(c0, "Test").selectOption("contains");
    await lab(c0, "Words").fill("invoice");
    await page.click("#cond-add");
    const c1 = row("conditions", 1);
    await lab(c1, "Where").selectOption("sender_is");
    await lab(c1, "Sender address is").selectOption("local");
    await lab(c1, "Account").selectOption("exists");
    await page.click("#cond-add");
    const c2 = row("conditions", 2);
    await lab(c2, "Where").selectOption("subject");
    await lab(c2, "Not (the condition must not hold)").check();
    await lab(c2, "Words").fill("draft");
    await lab(c2, "Match whole word only").check();
    // Move condition 3 up by keyboard: the negated one becomes the second.
    await page.locator('[aria-label="Move condition 3 up"]').focus();
    await page.keyboard.press("Enter");
    await status(page, /condition moved to position 2/);
    out.condition_move_focus = await focused(page);
    await page.click("#act-add");
    const a1 = row("actions", 1);
    await lab(a1, "Do").selectOption("flags");
    await lab(a1, "Flagged").check();
    await lab(a1, "Keywords (separated by spaces)").fill("Billing");
    out.rule_description = await page.textContent("#rule-desc");
    await shot(page, "07-rule-editor");
    await page.click("#rule-submit");
    await status(page, /added as number 1/);

    // Rule 2: urgent mail into Urgent, then stop.
    await page.click("#rule-new");
    await page.fill("#rule-title", "Urgent");
    await lab(row("conditions", 0), "Words").fill("urgent");
    await lab(row("actions", 0), "Folder").fill("Urgent");
    await page.click("#act-add");
    await lab(row("actions", 1), "Do").selectOption("stop");
    await page.click("#rule-submit");
    await status(page, /added as number 2/);

    // Edit shows every condition and action of rule 1; cancel.
    await page.click('[aria-label="Edit rule Invoices"]');
    out.edit_rows = [await page.locator("#rule-conditions > fieldset.row").count(), await page.locator("#rule-actions > fieldset.row").count()];
    out.edit_words = await lab(row("conditions", 1), "Words").inputValue();
    await page.click("#rule-cancel");

    // Reorder by keyboard: focus rule 2's Up button, press Enter. The
    // focus stays on the moved rule's Up button.
    await page.locator('[aria-label="Move rule Urgent up"]').focus();
    await page.keyboard.press("Enter");
    await status(page, /moved to position 1/);
    out.rule_order = await page.locator("#rules-list li.rule strong").allTextContents();
    out.reorder_focus = await focused(page);
    // Space on the same button at the top moves nothing.
    await page.keyboard.press(" ");
    await status(page, /already first/);
    await shot(page, "08-rules");
  }

  if (steps.includes("share")) {
    await page.waitForSelector("#share-form", { state: "visible" });
    out.share_sets = await page.$$eval("#share-rights option", (os) => os.map((o) => o.textContent.replace(/ \(.*$/, "")));
    await page.selectOption("#share-folder", env.FLOE_SHARE_FOLDER);
    await page.fill("#share-with", env.FLOE_SHARE_WITH);
    await page.selectOption("#share-rights", "read");
    await page.click("#share-form button[type=submit]");
    await status(page, /sharing saved/);
    // Change it to custom permissions: Read and Modify.
    await page.click(`[aria-label="Change sharing of ${env.FLOE_SHARE_FOLDER} with ${env.FLOE_SHARE_WITH}"]`);
    out.share_change_focus = await focused(page);
    await page.selectOption("#share-rights", "custom");
    await page.check("#share-c-read");
    await page.check("#share-c-modify");
    await page.click("#share-form button[type=submit]");
    await page.waitForFunction(() => /Read, Modify/.test(document.querySelector("#shares-list").textContent));
    out.share_row = await page.textContent("#shares-list tr");
    await shot(page, "09-share");
  }

  // A phone-sized screen, with the rule editor open: nothing wider than
  // the viewport.
  await page.setViewportSize({ width: 375, height: 740 });
  if (steps.includes("rule")) {
    await page.click('[aria-label="Edit rule Invoices"]');
  }
  out.phone_overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await shot(page, "10-phone");
  if (steps.includes("rule")) {
    await page.click("#rule-cancel");
  }

  // Log out.
  await page.setViewportSize({ width: 1024, height: 900 });
  await page.click("#logout");
  await page.waitForSelector("#login-section:not([hidden])");
  out.logged_out = true;
} catch (e) {
  out.error = String(e && e.stack || e);
} finally {
  await ctx.close();
}
console.log(JSON.stringify(out));
