/** tenant_user_groups and tenant_user_group_members queries (inside the tenant's transaction). */
import { and, asc, count, eq, ilike, inArray } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { authUsers, providerChannels, tenantUserGroupMembers, tenantUserGroups } from '../../db/schema/index.js';
import { bounds, likePattern, type PageQuery } from '../pagination.js';
import type { GroupJson, MemberJson } from './schemas.js';

const g = tenantUserGroups;
const m = tenantUserGroupMembers;
const columns = { id: g.id, name: g.name, description: g.description, createdBy: g.createdBy, createdAt: g.createdAt };

export interface GroupRow {
  id: string;
  name: string;
  description: string | null;
  createdBy: string | null;
  createdAt: Date;
  memberCount: number;
}

/** Adds member counts to a page of groups (one grouped count, not one query per group). */
async function withMemberCounts(tx: Db, rows: Omit<GroupRow, 'memberCount'>[]): Promise<GroupRow[]> {
  if (rows.length === 0) return [];
  const counts = await tx
    .select({ groupId: m.groupId, n: count() })
    .from(m)
    .where(inArray(m.groupId, rows.map((r) => r.id)))
    .groupBy(m.groupId);
  const byGroup = new Map(counts.map((c) => [c.groupId, Number(c.n)]));
  return rows.map((r) => ({ ...r, memberCount: byGroup.get(r.id) ?? 0 }));
}

export function groupJson(r: GroupRow): GroupJson {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    created_by: r.createdBy,
    member_count: Number(r.memberCount),
    created_at: r.createdAt.toISOString(),
  };
}

export async function listGroups(tx: Db, f: { q?: string }, page: PageQuery): Promise<{ rows: GroupRow[]; total: number }> {
  const where = f.q ? ilike(g.name, likePattern(f.q)) : undefined;
  const { limit, offset } = bounds(page);
  const rows = await tx.select(columns).from(g).where(where).orderBy(asc(g.name), asc(g.id)).limit(limit).offset(offset);
  const [total] = await tx.select({ n: count() }).from(g).where(where);
  return { rows: await withMemberCounts(tx, rows), total: Number(total?.n ?? 0) };
}

export async function getGroup(tx: Db, id: string): Promise<GroupRow | null> {
  const [row] = await tx.select(columns).from(g).where(eq(g.id, id));
  return row ? (await withMemberCounts(tx, [row]))[0]! : null;
}

export async function insertGroup(tx: Db, tenantId: string, v: { name: string; description?: string | null; createdBy: string | null }): Promise<{ id: string }> {
  const [row] = await tx.insert(g).values({ tenantId, ...v }).returning({ id: g.id });
  return row!;
}

export async function updateGroup(tx: Db, id: string, v: { name?: string; description?: string | null }): Promise<{ id: string } | null> {
  // tenant_user_groups has no updated_at; a set with only undefined values would be empty SQL.
  if (v.name === undefined && v.description === undefined) {
    const [row] = await tx.select({ id: g.id }).from(g).where(eq(g.id, id));
    return row ?? null;
  }
  const [row] = await tx.update(g).set(v).where(eq(g.id, id)).returning({ id: g.id });
  return row ?? null;
}

export async function deleteGroup(tx: Db, id: string): Promise<boolean> {
  const rows = await tx.delete(g).where(eq(g.id, id)).returning({ id: g.id });
  return rows.length === 1;
}

/** Group-scoped channels: deleting the group would cascade to them. */
export async function countGroupChannels(tx: Db, groupId: string): Promise<number> {
  const [row] = await tx.select({ n: count() }).from(providerChannels).where(eq(providerChannels.groupId, groupId));
  return Number(row?.n ?? 0);
}

const memberColumns = { userId: m.userId, email: authUsers.email, fullName: authUsers.fullName, role: m.role, joinedAt: m.joinedAt };

export interface MemberRow {
  userId: string;
  email: string;
  fullName: string | null;
  role: string;
  joinedAt: Date;
}

export function memberJson(r: MemberRow): MemberJson {
  return { user_id: r.userId, email: r.email, full_name: r.fullName, role: r.role as MemberJson['role'], joined_at: r.joinedAt.toISOString() };
}

export async function listMembers(tx: Db, groupId: string, page: PageQuery): Promise<{ rows: MemberRow[]; total: number }> {
  const { limit, offset } = bounds(page);
  const rows = await tx
    .select(memberColumns)
    .from(m)
    .innerJoin(authUsers, eq(authUsers.id, m.userId))
    .where(eq(m.groupId, groupId))
    .orderBy(asc(authUsers.email))
    .limit(limit)
    .offset(offset);
  const [total] = await tx.select({ n: count() }).from(m).where(eq(m.groupId, groupId));
  return { rows, total: Number(total?.n ?? 0) };
}

export async function getMember(tx: Db, groupId: string, userId: string): Promise<MemberRow | null> {
  const [row] = await tx
    .select(memberColumns)
    .from(m)
    .innerJoin(authUsers, eq(authUsers.id, m.userId))
    .where(and(eq(m.groupId, groupId), eq(m.userId, userId)));
  return row ?? null;
}

export async function insertMember(tx: Db, tenantId: string, groupId: string, userId: string, role: string): Promise<void> {
  await tx.insert(m).values({ tenantId, groupId, userId, role }).returning({ id: m.id });
}

export async function updateMemberRole(tx: Db, groupId: string, userId: string, role: string): Promise<boolean> {
  const rows = await tx.update(m).set({ role }).where(and(eq(m.groupId, groupId), eq(m.userId, userId))).returning({ id: m.id });
  return rows.length === 1;
}

export async function deleteMember(tx: Db, groupId: string, userId: string): Promise<boolean> {
  const rows = await tx.delete(m).where(and(eq(m.groupId, groupId), eq(m.userId, userId))).returning({ id: m.id });
  return rows.length === 1;
}
