/**
 * WhatsApp (issue 32), when WHATSAPP_SENDER is set: the sender in the Messaging Service, and the
 * templates the project sends. Registering a WhatsApp Business sender with Meta and submitting
 * templates for approval are a person's work (the Console; Meta answers in minutes to days): setup
 * cannot do them, so it says exactly what is missing. What it does: find each template the project
 * uses (WHATSAPP_TEMPLATES, `name:variables`) among the account's approved ones and write its
 * Content SID to .env by name (WHATSAPP_TEMPLATE_<NAME>), so requests name templates, never SIDs.
 */
import { whatsappTemplateVariable } from '../../lib/config';
import { type Context, type Finding, fromTwilio, resource, settingOf } from '../resource';

const wanted = (ctx: Context) => settingOf(ctx, 'WHATSAPP_SENDER') !== '';

export const whatsappSender = resource({
  about: "WhatsApp: the sender (WHATSAPP_SENDER) among the Messaging Service's senders",
  wanted,
  read: async ({ v, messaging }) => {
    if (!messaging.sid) return { senders: undefined };
    const sid = messaging.sid;
    const senders = await fromTwilio(() => v.twilio.messaging.v1.services(sid).channelSenders.list());
    return { senders: senders.map((s) => s.sender) };
  },
  compare: (ctx, { senders }): Finding[] => {
    const sender = settingOf(ctx, 'WHATSAPP_SENDER');
    if (senders?.includes(sender))
      return [
        { resource: `WhatsApp sender ${sender}`, status: 'ok', detail: `in Messaging Service ${ctx.messaging.sid}` },
      ];
    return [
      {
        resource: `WhatsApp sender ${sender}`,
        status: 'problem',
        detail: senders
          ? `not among the Messaging Service's senders (${senders.join(', ') || 'none'}): no WhatsApp message can be sent`
          : 'no Messaging Service yet: the sender is checked once setup created it',
        fix: 'register the number as a WhatsApp sender with Meta (Console > Messaging > Senders > WhatsApp senders; Meta approves in minutes to days), then add it to the Messaging Service (its Sender Pool)',
      },
    ];
  },
});

/** WHATSAPP_TEMPLATES=appointment_reminder:2,payment_due:2: the templates the project sends and how many variables each takes. */
export function usedTemplates(setting: string): Array<{ name: string; variables?: number }> {
  return setting
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x) => {
      const [name, count] = x.split(':');
      return { name, ...(count !== undefined && /^\d+$/.test(count) ? { variables: Number(count) } : {}) };
    });
}

interface Template {
  sid: string;
  name: string;
  status: string;
  rejection: string;
  variables: number;
}

export const whatsappTemplates = resource({
  about: 'WhatsApp: the templates the project sends (WHATSAPP_TEMPLATES), approved, written to .env by name',
  wanted: (ctx) => wanted(ctx) && settingOf(ctx, 'WHATSAPP_TEMPLATES') !== '',
  read: async ({ v }) => {
    const all = await fromTwilio(() => v.twilio.content.v1.contentAndApprovals.list());
    return all.map((c): Template => {
      const approval = (c.approvalRequests ?? {}) as unknown as {
        name?: string;
        status?: string;
        rejection_reason?: string;
      };
      return {
        sid: c.sid,
        name: c.friendlyName,
        status: approval.status ?? 'unsubmitted',
        rejection: approval.rejection_reason ?? '',
        variables: Object.keys(c.variables ?? {}).length,
      };
    });
  },
  compare: (ctx, templates): Finding[] => {
    const approved = templates.filter((t) => t.status === 'approved').map((t) => t.name);
    const findings: Finding[] = [
      {
        resource: 'WhatsApp templates',
        status: 'ok',
        detail: `approved on the account: ${approved.join(', ') || 'none'}`,
      },
    ];
    for (const used of usedTemplates(settingOf(ctx, 'WHATSAPP_TEMPLATES'))) {
      const variable = whatsappTemplateVariable(used.name);
      const t = templates.find((x) => x.name === used.name);
      const resource = `WhatsApp template ${used.name}`;
      if (!t) {
        findings.push({
          resource,
          status: 'problem',
          detail: 'no template of that name on the account',
          fix: 'create it in the Console (Messaging > Content Template Builder) and submit it to WhatsApp for approval',
        });
      } else if (t.status !== 'approved') {
        findings.push({
          resource,
          status: 'problem',
          detail: `not approved by WhatsApp: ${t.status}${t.rejection ? ` (${t.rejection})` : ''}; outside the 24-hour window it cannot be sent`,
          fix:
            t.status === 'rejected'
              ? 'change it as the rejection says and submit it again'
              : 'wait for WhatsApp to approve it',
        });
      } else if (used.variables !== undefined && used.variables !== t.variables) {
        findings.push({
          resource,
          status: 'problem',
          detail: `takes ${t.variables} variables; the project fills ${used.variables} (WHATSAPP_TEMPLATES)`,
          fix: 'make WHATSAPP_TEMPLATES and the template agree (a variable left empty is refused by WhatsApp)',
        });
      } else {
        const known = settingOf(ctx, variable) === t.sid;
        findings.push({
          resource,
          status: 'ok',
          detail: `approved, ${t.sid}${known ? '' : ` (written to .env as ${variable})`}`,
          ...(known ? {} : { remember: { [variable]: t.sid } }),
        });
      }
    }
    return findings;
  },
});
