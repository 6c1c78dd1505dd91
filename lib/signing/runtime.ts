/**
 * The command signer of this process, made once from the environment on first use (once per cold
 * start in Lambda), like the push runtime (lib/push/runtime.ts):
 *   - COMMAND_SIGNING_KMS_KEY_ID set (the deployed stack): the KMS signer over that key, with
 *     COMMAND_SIGNING_KMS_OTHER_KEY_IDS (comma-separated) published beside it during a rotation;
 *   - otherwise the local key file COMMAND_SIGNING_KEY_FILE (by default
 *     .local/command-signing-key.pem), made on first use: in production (Lambda, NODE_ENV=production)
 *     only when COMMAND_SIGNING_KEY_FILE names it (sam local, a bundle run by tests), never by default.
 * The local server and tests put in their own with setCommandSigner().
 */
import { ConfigError, type Env } from '../config.ts';
import { KmsSigner } from './kms.ts';
import { type CommandSigner, LocalFileSigner } from './signer.ts';

export const DEFAULT_SIGNING_KEY_FILE = '.local/command-signing-key.pem';

export type SigningSettings =
  | { readonly kind: 'kms'; readonly keyId: string; readonly otherKeyIds: readonly string[] }
  | { readonly kind: 'file'; readonly path: string };

const KEY_ID = /^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/)?[A-Za-z0-9-]{1,128}$/;

/** The signing settings from the environment, checked; a production start without a KMS key fails here. */
export function loadSigningSettings(env: Env): SigningSettings {
  const production = Boolean(env.AWS_LAMBDA_FUNCTION_NAME) || env.NODE_ENV === 'production';
  const keyId = env.COMMAND_SIGNING_KMS_KEY_ID?.trim() || undefined;
  const others = (env.COMMAND_SIGNING_KMS_OTHER_KEY_IDS ?? '')
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
  for (const [name, ids] of [
    ['COMMAND_SIGNING_KMS_KEY_ID', keyId === undefined ? [] : [keyId]],
    ['COMMAND_SIGNING_KMS_OTHER_KEY_IDS', others],
  ] as const) {
    for (const id of ids) {
      if (!KEY_ID.test(id)) throw new ConfigError(name, `expected a KMS key id or key ARN, got ${JSON.stringify(id)}`);
    }
  }
  if (keyId !== undefined) return { kind: 'kms', keyId, otherKeyIds: others };
  if (others.length > 0) throw new ConfigError('COMMAND_SIGNING_KMS_OTHER_KEY_IDS', 'needs COMMAND_SIGNING_KMS_KEY_ID');
  const file = env.COMMAND_SIGNING_KEY_FILE?.trim() || undefined;
  if (production && file === undefined) {
    throw new ConfigError('COMMAND_SIGNING_KMS_KEY_ID', 'commands are signed with a KMS key outside local development; set the key id');
  }
  return { kind: 'file', path: file ?? DEFAULT_SIGNING_KEY_FILE };
}

/** The signer the settings describe. */
export function createCommandSigner(settings: SigningSettings): CommandSigner {
  if (settings.kind === 'file') return new LocalFileSigner(settings.path);
  return new KmsSigner({ keyId: settings.keyId, otherKeyIds: settings.otherKeyIds });
}

let current: CommandSigner | undefined;

/** The process's command signer, from the environment on first use. */
export function commandSigner(): CommandSigner {
  current ??= createCommandSigner(loadSigningSettings(process.env));
  return current;
}

/** Puts in a signer of the caller's making (the local server, tests). */
export function setCommandSigner(next: CommandSigner): CommandSigner {
  current = next;
  return next;
}
