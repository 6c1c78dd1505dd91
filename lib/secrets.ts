/**
 * Secrets read at cold start. Locally everything comes from the environment; the deployed
 * stack fills this in from AWS Secrets Manager.
 */
export async function loadSecrets(env: Readonly<Record<string, string | undefined>>): Promise<Record<string, string | undefined>> {
  return { ...env };
}
