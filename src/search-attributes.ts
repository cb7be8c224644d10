/**
 * Typed search attributes that make jobs findable in the Temporal UI and with `temporal workflow list --query`, e.g.
 * `CuratorName = 'poems' AND CuratorStatus = 'running'`. They must be registered on the server: the embedded dev
 * server does it; on a real cluster run once:
 *
 *   temporal operator search-attribute create --name CuratorName --type Keyword   (and so on for each key below)
 *
 * Jobs use them only when started with `searchAttributes: true`, so an unregistered cluster never fails a job.
 * Sandbox-safe: workflows import this file.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const CuratorName = defineSearchAttributeKey('CuratorName', SearchAttributeType.KEYWORD);
export const CuratorModel = defineSearchAttributeKey('CuratorModel', SearchAttributeType.KEYWORD);
export const CuratorRunHash = defineSearchAttributeKey('CuratorRunHash', SearchAttributeType.KEYWORD);
export const CuratorStatus = defineSearchAttributeKey('CuratorStatus', SearchAttributeType.KEYWORD);
export const CuratorRowsTotal = defineSearchAttributeKey('CuratorRowsTotal', SearchAttributeType.INT);
export const CuratorRowsDone = defineSearchAttributeKey('CuratorRowsDone', SearchAttributeType.INT);

export const CURATOR_SEARCH_ATTRIBUTES = [
  CuratorName,
  CuratorModel,
  CuratorRunHash,
  CuratorStatus,
  CuratorRowsTotal,
  CuratorRowsDone,
];

const CLI_TYPE: Record<string, string> = { KEYWORD: 'Keyword', INT: 'Int' };

/** `temporal server start-dev` arguments that register the keys. */
export function searchAttributeArgs(): string[] {
  return CURATOR_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${CLI_TYPE[key.type]}`]);
}
