// Who is signed in, as the server says (/auth/me): the header, the navigation and the guard of
// restricted pages follow it. The server decides what each caller may read and do (401 for the
// anonymous, 403 for a user without the role); the UI only keeps people from pages they would
// be refused anyway, and says why.
import { login, logout, setCsrfToken, whoAmI, type Me } from "./api";

const ANONYMOUS: Me = { name: null, roles: ["public"], authenticated_by: null };
/** roles that review (approve or reject) reports: the server's DECIDERS */
export const REVIEW_ROLES = ["reviewer", "admin"];
/** roles that submit reports: the server's REPORTERS */
export const REPORT_ROLES = ["surveyor", "reviewer", "admin", "records_custodian"];
/** roles that withdraw an approved report: admins only */
export const UNAPPROVE_ROLES = ["admin"];
/** roles that read a record's history: the server's STAFF */
export const STAFF_ROLES = ["surveyor", "reviewer", "admin", "records_custodian"];

let current: Me = ANONYMOUS;
const listeners: Array<() => void> = [];

function become(me: Me): void {
  current = me;
  setCsrfToken(me.csrf_token ?? null);
  for (const listener of listeners) listener();
}

export function session(): Me {
  return current;
}

export function isSignedIn(): boolean {
  return current.name !== null;
}

export function hasRole(roles: readonly string[]): boolean {
  return current.roles.some((role) => roles.includes(role));
}

export function onSessionChange(listener: () => void): void {
  listeners.push(listener);
}

/** Ask the server again (at start, and when an answer says the session has ended). */
export async function refreshSession(): Promise<Me> {
  try {
    become(await whoAmI());
  } catch {
    become(ANONYMOUS);
  }
  return current;
}

export async function signIn(name: string, password: string): Promise<Me> {
  become(await login(name, password));
  return current;
}

export async function signOut(): Promise<void> {
  try {
    await logout();
  } finally {
    become(ANONYMOUS);
  }
}
