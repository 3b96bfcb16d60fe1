/** Segment's computed trait: the "trait" routing policy and the holdout's baseline read it. */
import { type Finding, resource } from '../resource';

/** Segment's "most frequent" computed trait over what the service tracks (Public API query language) */
export const TRAIT_QUERY = "event('Notification Engaged').within(90 days).mostFrequent(property('channel'), 3)";

type Trait = { key?: string; name?: string; enabled?: boolean };

const traitOf = (env: Record<string, string>) => env.PREFERRED_CHANNEL_TRAIT || 'preferred_channel';
const pathOf = (space: string) => `/spaces/${encodeURIComponent(space)}/computed-traits`;

export const computedTrait = resource({
  about: 'the Segment computed trait PREFERRED_CHANNEL_TRAIT (needs SEGMENT_PUBLIC_API_TOKEN and SEGMENT_SPACE_ID)',
  read: async ({ v, env }) => {
    if (!v.segment || !env.SEGMENT_SPACE_ID) return { checked: false as const };
    const listed = (await v.segment('GET', pathOf(env.SEGMENT_SPACE_ID))) as { data?: { computedTraits?: Trait[] } };
    const trait = traitOf(env);
    return {
      checked: true as const,
      found: listed.data?.computedTraits?.find((t) => t.key === trait || t.name === trait),
    };
  },
  compare: ({ env }, state): Finding[] => {
    const trait = traitOf(env);
    const resource = `Segment computed trait ${trait}`;
    const uiSteps = `Unify → Traits → Create computed trait → Most frequent → event "Notification Engaged", property "channel", minimum frequency 3 → name it ${trait} (needs Segment's Unify plan)`;
    if (!state.checked)
      return [
        {
          resource,
          status: 'manual',
          detail: `not checked (set SEGMENT_PUBLIC_API_TOKEN and SEGMENT_SPACE_ID to let setup create it). In Segment: ${uiSteps}`,
        },
      ];
    if (state.found)
      return [
        {
          resource,
          status: state.found.enabled === false ? 'problem' : 'ok',
          detail: state.found.enabled === false ? 'disabled' : 'defined',
          fix: 'enable it in Segment (Unify → Traits)',
        },
      ];
    return [
      {
        resource,
        status: 'create',
        detail: 'most frequent channel of Notification Engaged',
        fix: `not defined: run npm run setup, or in Segment: ${uiSteps}`,
        change: 'create',
      },
    ];
  },
  apply: async ({ v, env }) => {
    await v.segment?.('POST', pathOf(env.SEGMENT_SPACE_ID), {
      name: traitOf(env),
      enabled: true,
      definition: { query: TRAIT_QUERY, type: 'USERS' },
    });
  },
});
