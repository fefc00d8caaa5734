// Drives Floe's settings page in Debian's chromium (headless) with
// playwright-core, as a person would: log in, change the password, create
// an app password, and checks that every control has a label, that the
// keyboard order is sane and that the page fits a phone. Screenshots go to
// FLOE_SHOTS. Prints one JSON object for the Go test
// (server/interop/browser_test.go), which checks the effects over IMAP.
//
// Environment: FLOE_URL, FLOE_USER, FLOE_PASS, FLOE_NEWPASS, FLOE_SHOTS,
// FLOE_PROFILE (a fresh --user-data-dir), FLOE_STEPS (comma-separated
// extra steps: "responder", "rule", "share" when the server offers them).
import { chromium } from "playwright-core";

const env = process.env;
const out = { labels_missing: [], steps: [] };
const shot = async (page, name) => {
  await page.screenshot({ path: `${env.FLOE_SHOTS}/${name}.png`, fullPage: true });
  out.steps.push(name);
};

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
  await page.goto(env.FLOE_URL);
  await page.waitForSelector("#login-form");
  await shot(page, "01-login");

  // Every form control has a label (label[for], a wrapping label, or
  // aria-label/aria-labelledby): an axe "label" rule check.
  out.labels_missing = await page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll("input, select, textarea")) {
      if (el.type === "hidden") continue;
      const byFor = el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
      const named = el.closest("label") || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
      if (!byFor && !named) bad.push(el.id || el.outerHTML.slice(0, 60));
    }
    return bad;
  });

  // Keyboard: the address field has focus, Tab goes to the password, then
  // to the button.
  const focused = () => page.evaluate(() => document.activeElement && (document.activeElement.id || document.activeElement.textContent));
  out.focus = [await focused()];
  await page.keyboard.press("Tab");
  out.focus.push(await focused());
  await page.keyboard.press("Tab");
  out.focus.push(await focused());

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
  await shot(page, "02-settings");

  // Change the password.
  await page.fill("#pw-old", env.FLOE_PASS);
  await page.fill("#pw-new", env.FLOE_NEWPASS);
  await page.fill("#pw-new2", env.FLOE_NEWPASS);
  await page.click("#password-form button[type=submit]");
  await page.waitForFunction(() => /password changed/i.test(document.querySelector("#status").textContent));
  out.password_status = await page.textContent("#status");
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
    await page.selectOption("#resp-mode", "always");
    await page.fill("#resp-subject", "Away: %%Subject%%");
    await page.fill("#resp-text", "I am away (browser test).");
    await page.click("#responder-form button[type=submit]");
    await page.waitForFunction(() => /responder saved/i.test(document.querySelector("#status").textContent));
    await shot(page, "05-responder");
  }
  if (steps.includes("rule")) {
    await page.waitForSelector("#rule-form", { state: "visible" });
    await page.fill("#rule-title", "Invoices");
    await page.selectOption("#rule-if", "subject");
    await page.selectOption("#rule-test", "contains");
    await page.fill("#rule-value", "invoice");
    await page.selectOption("#rule-action", "move");
    await page.fill("#rule-arg", "Invoices");
    await page.click("#rule-submit");
    await page.waitForFunction(() => /rule added/i.test(document.querySelector("#status").textContent));
    await shot(page, "06-rule");
  }
  if (steps.includes("share")) {
    await page.waitForSelector("#share-form", { state: "visible" });
    await page.selectOption("#share-folder", env.FLOE_SHARE_FOLDER);
    await page.fill("#share-with", env.FLOE_SHARE_WITH);
    await page.selectOption("#share-rights", "read");
    await page.click("#share-form button[type=submit]");
    await page.waitForFunction(() => /sharing saved/i.test(document.querySelector("#status").textContent));
    await shot(page, "07-share");
  }

  // A phone-sized screen: nothing wider than the viewport.
  await page.setViewportSize({ width: 375, height: 740 });
  out.phone_overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await shot(page, "08-phone");

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
