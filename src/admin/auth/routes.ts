/** /auth: login, refresh (rotation), logout, the current user, and changing one's own password. */
import { eq } from 'drizzle-orm';
import { ALL_ROLES } from '../../auth/actor.js';
import { login } from '../../auth/login.js';
import { logout, refreshSession } from '../../auth/sessions.js';
import { changePassword } from '../../auth/password-change.js';
import { tenantOrganizations } from '../../db/schema/index.js';
import { GatewayError } from '../../errors.js';
import { okSchema } from '../common-schemas.js';
import { publicRoute, route, type AdminRoute } from '../route-def.js';
import { getUser, updateUser, userJson } from '../users/repo.js';
import { updateProfileBody, userSchema } from '../users/schemas.js';
import { loginBody, loginResponse, meSchema, passwordBody, passwordChanged, refreshBody, tokenPairSchema } from './schemas.js';
import type { Deps } from '../../deps.js';

const tag = 'Auth';
const sessionDeps = (deps: Deps) => ({ db: deps.database.db, config: deps.config, logger: deps.logger });

export const authRoutes: AdminRoute[] = [
  publicRoute({
    tag,
    method: 'post',
    path: '/auth/login',
    summary: 'Log in',
    description:
      'Returns an access token and a refresh token, each shown once. After LYSS_LOGIN_MAX_ATTEMPTS failures the account is locked for LYSS_LOGIN_LOCK_MS; every refusal is the same 401 whether or not the tenant or email exists or the account is locked.',
    body: loginBody,
    response: loginResponse,
    handle: ({ deps, body, request }) => login(sessionDeps(deps), body, request),
  }),
  publicRoute({
    tag,
    method: 'post',
    path: '/auth/refresh',
    summary: 'Rotate the session tokens',
    description: 'Returns a new access and refresh token; the old ones stop working. Presenting a refresh token that was already rotated out revokes the whole session (401 refresh_token_reused).',
    body: refreshBody,
    response: tokenPairSchema,
    handle: ({ deps, body }) => refreshSession(sessionDeps(deps), body.refresh_token),
  }),
  route({
    tag,
    roles: ALL_ROLES,
    method: 'post',
    path: '/auth/logout',
    summary: 'Log out (revoke this session)',
    response: okSchema,
    handle: async ({ deps, actor }) => {
      await logout(sessionDeps(deps), actor);
      return { ok: true };
    },
  }),
  route({
    tag,
    roles: ALL_ROLES,
    method: 'get',
    path: '/auth/me',
    summary: 'The current user, tenant and session',
    response: meSchema,
    handle: async ({ actor, tx }) =>
      tx(async (db) => {
        const user = await getUser(db, actor.userId);
        const t = tenantOrganizations;
        const [tenant] = await db
          .select({ id: t.id, slug: t.slug, name: t.name, status: t.status, subscription_plan: t.subscriptionPlan })
          .from(t)
          .where(eq(t.id, actor.tenantId));
        if (!user || !tenant) throw new GatewayError('invalid_session', 'The session user no longer exists.');
        return { user: userJson(user), tenant, session: { id: actor.sessionId } };
      }),
  }),
  route({
    tag,
    roles: ALL_ROLES,
    method: 'patch',
    path: '/auth/me',
    summary: 'Update your own profile',
    description: 'Names and avatar only: role, status and email are changed by an admin.',
    body: updateProfileBody,
    response: userSchema,
    handle: async ({ actor, tx, body }) => {
      const row = await tx((db) =>
        updateUser(db, actor.userId, { firstName: body.first_name, lastName: body.last_name, fullName: body.full_name, avatarUrl: body.avatar_url }),
      );
      if (!row) throw new GatewayError('invalid_session', 'The session user no longer exists.');
      return userJson(row);
    },
  }),
  route({
    tag,
    roles: ALL_ROLES,
    method: 'post',
    path: '/auth/password',
    summary: 'Change your own password',
    description: 'Needs the current password (a wrong one counts towards the lockout). Every other session of the user is revoked.',
    body: passwordBody,
    response: passwordChanged,
    handle: async ({ deps, actor, body }) => {
      const r = await changePassword(sessionDeps(deps), actor, body.current_password, body.new_password);
      return { ok: true, ...r };
    },
  }),
];
