/**
 * Hugging Face hub settings from the environment, with the same names and precedence as the Python
 * `huggingface_hub` library (src/huggingface_hub/constants.py and utils/_auth.py, git tag v0.25.1, the version the
 * fixtures were generated with):
 *   HF_ENDPOINT                         hub URL (default https://huggingface.co)
 *   HF_TOKEN / HUGGING_FACE_HUB_TOKEN    access token; else the file at HF_TOKEN_PATH (default $HF_HOME/token),
 *                                        which `huggingface-cli login` writes
 *   HF_HOME                             default $XDG_CACHE_HOME/huggingface, i.e. ~/.cache/huggingface
 *   HF_HUB_CACHE / HUGGINGFACE_HUB_CACHE the hub cache (default $HF_HOME/hub)
 *   HF_HUB_OFFLINE                      1/true/yes/on: never touch the network
 * Our own partial-tensor cache lives beside the hub cache: dirname(hub cache)/imgtokens (see hub-cache.ts),
 * or IMGTOKENS_TENSOR_CACHE.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubSettings {
  endpoint: string;
  /** The token, or undefined when none is configured. */
  token?: string;
  /** Where the token came from, for messages ("HF_TOKEN", a file path). */
  tokenSource?: string;
  hfHome: string;
  hubCache: string;
  tensorCache: string;
  offline: boolean;
}

type Env = Record<string, string | undefined>;

function truthy(v: string | undefined): boolean {
  return v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.trim().toLowerCase());
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t ? t : undefined;
}

/** Reads every hub setting from `env` (default process.env). Only the token file is read from disk. */
export function hubSettingsFromEnv(env: Env = process.env): HubSettings {
  const hfHome =
    nonEmpty(env.HF_HOME) ?? join(nonEmpty(env.XDG_CACHE_HOME) ?? join(homedir(), '.cache'), 'huggingface');
  const hubCache = nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE) ?? join(hfHome, 'hub');
  const tensorCache = nonEmpty(env.IMGTOKENS_TENSOR_CACHE) ?? join(dirname(hubCache), 'imgtokens');
  let token = nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN);
  let tokenSource = token === undefined ? undefined : env.HF_TOKEN ? 'HF_TOKEN' : 'HUGGING_FACE_HUB_TOKEN';
  if (token === undefined) {
    const path = nonEmpty(env.HF_TOKEN_PATH) ?? join(hfHome, 'token');
    try {
      token = nonEmpty(readFileSync(path, 'utf8'));
      if (token !== undefined) tokenSource = path;
    } catch {
      // no token file: anonymous access
    }
  }
  return {
    endpoint: (nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT).replace(/\/+$/, ''),
    token,
    tokenSource,
    hfHome,
    hubCache,
    tensorCache,
    offline: truthy(env.HF_HUB_OFFLINE),
  };
}
