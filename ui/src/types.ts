// The admin API's answers as the console reads them (openapi/admin.yaml has the full shapes).
// The rollout states and selector are the server's own (a file of types and one list, with no
// imports), so a state added there reaches the console's bars, legends and filters by itself.
import type { RolloutSelector, RolloutStatus, UpgradeState } from '../../src/rollouts/types';
export { UPGRADE_STATES } from '../../src/rollouts/types';
export type { RolloutSelector, UpgradeState };

export interface ServerStatus {
  status: 'HEALTHY' | 'DEGRADED';
  version: { number: string };
  store: { status: 'ok' | 'failing'; agents: number | null; error: string | null };
  catalog: { configured: boolean; packages: number; offerable: number; rejected: number };
  trusted_root: { source: string } | null;
  agent_auth: 'on' | 'off';
  admin_auth: 'keys' | 'loopback';
  release_feed: { source: string; status: string; last_success_at: string | null; last_error: string | null } | null;
}

export type StateCounts = Record<UpgradeState, number>;

export interface Wave {
  percent: number;
  min_success_ratio: number;
  min_wait_seconds: number;
  opened_at: string | null;
  agents: number;
  states: StateCounts;
}

export interface Rollout {
  id: string;
  status: RolloutStatus;
  reason: string | null;
  created_at: string;
  updated_at: string;
  resumed_at: string | null;
  version: string;
  selector: RolloutSelector;
  start_time: string;
  rollout_duration_seconds: number | null;
  max_failure_ratio: number;
  allow_downgrade: boolean;
  agents: number;
  states: StateCounts;
  offered: number;
  failing: number;
  failure_ratio: number;
  waves: Wave[];
}

export type AgentState = 'online' | 'offline' | 'disconnected';

export interface Fleet {
  agents: number;
  by_state: Record<AgentState, number>;
  by_version: Array<{ version: string | null; agents: number }>;
  by_platform: Array<{ os: string | null; arch: string | null; agents: number }>;
}

export interface AgentSummary {
  instance_uid: string;
  state: AgentState;
  first_seen: string;
  last_seen: string;
  distribution: string;
  version: string | null;
  os: string | null;
  arch: string | null;
  capabilities: string[];
  healthy: boolean | null;
  last_offer: { version: string; all_packages_hash: string; sent_at: string } | null;
}

export interface PackageStatus {
  name: string;
  status: string | null;
  agent_has_version: string;
  server_offered_version: string;
  error_message: string;
  download_percent?: number;
  download_bytes_per_second?: number;
}

export interface RolloutMember {
  instance_uid: string;
  wave: number;
  state: UpgradeState;
  state_since: string;
  not_before: string;
  retries: number;
  from_version: string;
  download_percent: number | null;
  download_bytes_per_second: number | null;
  error_message: string | null;
}

export interface AgentDetail extends AgentSummary {
  sequence_num: number;
  description: { identifying: Record<string, unknown>; non_identifying: Record<string, unknown> } | null;
  health: { healthy: boolean; status: string; last_error: string; start_time_unix_nano: number } | null;
  package_statuses: { packages: PackageStatus[]; server_provided_all_packages_hash: string; error_message: string } | null;
  history: Array<{ at: string; package: string; from_status: string | null; to_status: string | null; from_version: string; to_version: string; error_message: string }>;
  rollout?: { id: string; status: string; version: string; member: RolloutMember | null } | null;
  rollout_history?: Array<{ at: string; rollout: string; from_state: UpgradeState | null; to_state: UpgradeState; download_percent: number | null; error_message: string | null }>;
}
