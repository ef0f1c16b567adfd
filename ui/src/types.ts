// The admin API's answers as the console reads them: the shapes openapi/admin.yaml documents, in
// the types openapi-typescript makes of it (src/admin/openapi-types.ts, the same types the
// server's routes are checked against), so the console cannot read a field the API does not have.
import type { components } from '../../src/admin/openapi-types';
import { UPGRADE_STATES as SERVER_UPGRADE_STATES } from '../../src/rollouts/types';

type Schemas = components['schemas'];

export type ServerStatus = Schemas['Status'];
export type UpgradeState = Schemas['UpgradeState'];
export type StateCounts = Schemas['StateCounts'];
export type RolloutSelector = Schemas['RolloutSelector'];
export type Wave = Schemas['RolloutWave'];
export type Rollout = Schemas['Rollout'];
export type AgentState = Schemas['AgentState'];
export type Fleet = Schemas['Fleet'];
export type AgentSummary = Schemas['AgentSummary'];
export type PackageStatus = Schemas['PackageStatus'];
export type RolloutMember = Schemas['RolloutMember'];
export type AgentDetail = Schemas['AgentDetail'];
export type AgentPage = Schemas['AgentPage'];
export type RolloutList = Schemas['RolloutList'];
export type RolloutPreview = Schemas['RolloutPreview'];
export type PackageList = Schemas['PackageList'];

/** The states in the order a rollout moves through them: the server's own list (a file of types
 *  and this one list, with no imports), which must hold only states the API documents. */
export const UPGRADE_STATES: readonly UpgradeState[] = SERVER_UPGRADE_STATES;
