// The admin API's answers as the console reads them (openapi/admin.yaml has the full shapes).

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

export type UpgradeState = 'scheduled' | 'offered' | 'downloading' | 'installing' | 'installed' | 'failed' | 'stuck' | 'rolled_back';
export const UPGRADE_STATES: UpgradeState[] = ['scheduled', 'offered', 'downloading', 'installing', 'installed', 'failed', 'stuck', 'rolled_back'];
export type StateCounts = Record<UpgradeState, number>;

export interface RolloutSelector {
  attributes?: Record<string, string | string[]>;
  distribution?: string;
  os?: string[];
  arch?: string[];
  version?: string;
}

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
  status: 'active' | 'paused' | 'cancelled';
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
