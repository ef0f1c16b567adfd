// Which agents a rollout selects: every part of the selector that is given must match. Pure;
// reads the same attributes the offers read, so a rollout and the catalog agree on a platform.
import semver from 'semver';
import { attributeText } from '../agents/attributes';
import { agentPlatform, assetArch } from '../agents/platform';
import type { AgentDescriptionRecord } from '../agents/records';
import type { RolloutSelector } from './types';

/** A message naming what is wrong with the selector, or undefined when it is usable. */
export function selectorProblem(selector: RolloutSelector): string | undefined {
  if (selector.version !== undefined && semver.validRange(selector.version) === null) {
    return `selector/version "${selector.version}" is not a semver range`;
  }
  return undefined;
}

export function selects(selector: RolloutSelector, description: AgentDescriptionRecord | undefined): boolean {
  const platform = agentPlatform(description);
  if (selector.distribution !== undefined && platform.distribution !== selector.distribution) return false;
  if (selector.os !== undefined && selector.os.length > 0) {
    if (platform.os === undefined || !selector.os.some((os) => os.toLowerCase() === platform.os)) return false;
  }
  if (selector.arch !== undefined && selector.arch.length > 0) {
    if (platform.arch === undefined || !selector.arch.some((arch) => assetArch(arch) === platform.arch)) return false;
  }
  if (selector.version !== undefined) {
    // An agent whose version is unknown cannot be shown to be in the range, so it is left out.
    if (platform.version === undefined || !semver.satisfies(platform.version, selector.version, { includePrerelease: true })) {
      return false;
    }
  }
  for (const [key, wanted] of Object.entries(selector.attributes ?? {})) {
    const value = attributeText(description, key);
    if (value === undefined) return false;
    if (Array.isArray(wanted) ? !wanted.includes(value) : wanted !== value) return false;
  }
  return true;
}
