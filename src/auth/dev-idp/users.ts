import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The development IdP's demo users. Their passwords are published (banner, login page, docs): the IdP is
 * refused in production mode, and everything it signs in to is a throwaway dev instance.
 */
export interface DemoUser {
  /** The `sub` claim: fixed and opaque, so a principal is the same across restarts (and not the name). */
  readonly sub: string;
  readonly username: string;
  readonly password: string;
  readonly name: string;
  readonly email: string;
  /** What the user stands for in the demo, for the banner and the login page. */
  readonly title: string;
  readonly groups: readonly string[];
}

export const DEMO_USERS: readonly DemoUser[] = Object.freeze([
  {
    sub: '8f14e45f-ceea-467f-a0e6-a11ce0000001',
    username: 'alice',
    password: 'alice-dev',
    name: 'Alice Engineer',
    email: 'alice@example.com',
    title: 'engineer',
    groups: ['engineers'],
  },
  {
    sub: '2c9d7b1a-5e3f-4b8c-9d0e-da7a00000002',
    username: 'dana',
    password: 'dana-dev',
    name: 'Dana Analyst',
    email: 'dana@example.com',
    title: 'data analyst',
    groups: ['data-analysts'],
  },
  {
    sub: '6e4a3c1b-7f2d-4a9e-8b5c-ad3a00000003',
    username: 'adam',
    password: 'adam-dev',
    name: 'Adam Admin',
    email: 'adam@example.com',
    title: 'admin',
    groups: ['fedproxy-admins', 'engineers'],
  },
]);

/** The claims the IdP may release for a user; oidc-provider filters them by the granted scopes. */
export function demoUserClaims(user: DemoUser): Record<string, unknown> {
  return {
    sub: user.sub,
    preferred_username: user.username,
    name: user.name,
    email: user.email,
    email_verified: true,
    groups: [...user.groups],
  };
}

/**
 * The user these credentials belong to, or undefined. Every user's password is compared (as SHA-256
 * digests, in constant time) whatever the username, so the time taken does not tell which part was wrong.
 * The usernames are public anyway; this is the habit, not a secret being protected.
 */
export function authenticateDemoUser(
  users: readonly DemoUser[],
  username: string,
  password: string,
): DemoUser | undefined {
  const offered = sha256(password);
  let match: DemoUser | undefined;
  for (const user of users) {
    const passwordMatches = timingSafeEqual(sha256(user.password), offered);
    if (passwordMatches && user.username === username) match = user;
  }
  return match;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
