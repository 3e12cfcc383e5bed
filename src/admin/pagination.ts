/** Offset pagination for admin lists: `?page=&per_page=` in, `{ data, page, per_page, total }` out. */
import type { Page } from './common-schemas.js';

export interface PageQuery {
  page: number;
  per_page: number;
}

export function bounds(q: PageQuery): { limit: number; offset: number } {
  return { limit: q.per_page, offset: (q.page - 1) * q.per_page };
}

export function pageOf<T>(data: T[], total: number, q: PageQuery): Page<T> {
  return { data, page: q.page, per_page: q.per_page, total };
}

/** `%` and `_` in a search term match themselves. */
export function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

export const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);
