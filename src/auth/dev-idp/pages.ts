import type { ServerResponse } from 'node:http';
import type { DemoUser } from './users.js';

/**
 * The development IdP's HTML: the login form, error pages and the sign-out pages oidc-provider asks for.
 * Every value is HTML-escaped; there is no inline script or style, and every page is sent with a strict
 * Content-Security-Policy of its own (the IdP is mounted before fedproxy's helmet, so it sets its own
 * headers). The only stylesheet is served by the IdP itself.
 */

export const STYLESHEET_PATH = '/assets/dev-idp.css';

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The security headers of every page. `form-action` lists this origin and the redirect URIs' origins:
 * browsers apply it to the redirects that follow a form post (login → resume → client's redirect URI).
 */
export function pageHeaders(formTargets: readonly string[]): Record<string, string> {
  const formAction = ["'self'", ...new Set(formTargets)].join(' ');
  return {
    'Content-Security-Policy': [
      "default-src 'none'",
      "style-src 'self'",
      `form-action ${formAction}`,
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join('; '),
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  };
}

export interface PageContext {
  /** The issuer's path (`/dev-idp`, or empty at the root): links on the pages start with it. */
  readonly basePath: string;
}

function layout(context: PageContext, title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · fedproxy development IdP</title>
<link rel="stylesheet" href="${escapeHtml(context.basePath + STYLESHEET_PATH)}">
</head>
<body>
<main>
<p class="badge">Development IdP · demo users only</p>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

export interface LoginPage {
  /** Where the form posts: the interaction URL the browser is on. */
  readonly action: string;
  /** Who asks (the OAuth client's id). */
  readonly clientId: string;
  readonly users: readonly DemoUser[];
  /** The username to fill in again after a failed attempt. */
  readonly username?: string;
  readonly failed?: boolean;
}

export function loginPage(context: PageContext, page: LoginPage): string {
  const failure = page.failed ? '<p class="error" role="alert">Invalid username or password.</p>\n' : '';
  const rows = page.users
    .map(
      (user) =>
        `<tr><td>${escapeHtml(user.username)}</td><td>${escapeHtml(user.password)}</td>` +
        `<td>${escapeHtml(user.title)}</td><td>${escapeHtml(user.groups.join(', '))}</td></tr>`,
    )
    .join('\n');
  return layout(
    context,
    'Sign in',
    `<p>Sign in to continue to <strong>${escapeHtml(page.clientId)}</strong>.</p>
${failure}<form method="post" action="${escapeHtml(page.action)}">
<label for="username">Username</label>
<input id="username" name="username" value="${escapeHtml(page.username ?? '')}" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<div class="actions">
<button type="submit" name="action" value="login">Sign in</button>
<button type="submit" name="action" value="cancel" formnovalidate class="secondary">Cancel</button>
</div>
</form>
<table>
<caption>Demo users (this IdP asks for a password every time, so you can switch users)</caption>
<thead><tr><th>Username</th><th>Password</th><th>Stands for</th><th>Groups</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
`,
  );
}

export function messagePage(context: PageContext, title: string, message: string): string {
  return layout(context, title, `<p>${escapeHtml(message)}</p>\n`);
}

/** oidc-provider's error page content (`out` holds `error` and `error_description`), escaped. */
export function errorPage(context: PageContext, out: Record<string, string>): string {
  const items = Object.entries(out)
    .map(([key, value]) => `<dt>${escapeHtml(key)}</dt><dd>${escapeHtml(String(value))}</dd>`)
    .join('\n');
  return layout(context, 'Something went wrong', `<dl>\n${items}\n</dl>\n`);
}

/** The sign-out confirmation; `form` is oidc-provider's own (hidden) form, with its XSRF token. */
export function logoutPage(context: PageContext, form: string, host: string): string {
  return layout(
    context,
    'Sign out',
    `<p>Sign out of the development IdP at ${escapeHtml(host)}?</p>
${form}
<div class="actions">
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>
</div>
`,
  );
}

export function sendPage(
  res: ServerResponse,
  status: number,
  html: string,
  headers: Record<string, string>,
): void {
  res.writeHead(status, { ...headers, 'Content-Type': 'text/html; charset=utf-8' });
  res.end(html);
}

export const STYLESHEET = `body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
main { max-width: 32rem; margin: 3rem auto; padding: 2rem; background: #fff; border-radius: 8px;
  box-shadow: 0 1px 3px rgb(0 0 0 / 15%); }
h1 { margin-top: 0; font-size: 1.5rem; }
.badge { display: inline-block; margin: 0 0 1rem; padding: 0.1rem 0.6rem; border-radius: 1rem;
  background: #fff3cd; color: #6b4f00; font-size: 0.8rem; }
label { display: block; margin-top: 1rem; font-weight: 600; }
input { box-sizing: border-box; width: 100%; padding: 0.5rem; font: inherit; border: 1px solid #b8bfcc;
  border-radius: 4px; }
.actions { display: flex; gap: 0.5rem; margin-top: 1.5rem; }
button { padding: 0.5rem 1.2rem; font: inherit; border: 0; border-radius: 4px; background: #2456c8;
  color: #fff; cursor: pointer; }
button.secondary { background: #e3e6ec; color: #1d2330; }
.error { padding: 0.5rem 0.8rem; border-radius: 4px; background: #fde2e1; color: #8a1c14; }
table { width: 100%; margin-top: 2rem; border-collapse: collapse; font-size: 0.9rem; }
caption { text-align: left; margin-bottom: 0.4rem; color: #5a6272; }
th, td { text-align: left; padding: 0.3rem 0.4rem; border-bottom: 1px solid #e3e6ec; }
dt { font-weight: 600; }
`;
