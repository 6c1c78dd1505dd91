/**
 * The one place that says how every function of the service is built and run: Node.js 24 on
 * ARM64, bundled by the locally installed esbuild (no Docker) into a minified ESM file with a
 * source map, `@aws-sdk/*` left to the runtime, the Redis store's scripts it runs (or the built
 * console) beside it, a
 * log group of its own with a retention period, a role of its own that may write only to that
 * log group, and alarms on errors and throttles.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetStaging, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, MathExpression, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Route } from '../lib/http/routes.ts';
import { consoleBuildDir } from '../console/build.ts';
import { assembleScript, SCRIPT_FILES, type ScriptFile } from '../lib/store/lua.ts';

/** The repository root: functions/, lib/, package-lock.json. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Defaults stated once. 256 MB gives the HMAC check and the HTTPS calls to Upstash enough CPU. */
export const FUNCTION_DEFAULTS = {
  runtime: Runtime.NODEJS_24_X,
  architecture: Architecture.ARM_64,
  memorySize: 256,
  /**
   * A request makes at most a few sequential store calls, each bounded by REDIS_TIMEOUT_MS
   * (1 s by default, at most MAX_REDIS_TIMEOUT_MS), and a cold start one Secrets Manager
   * read; 10 s leaves room for all of it and stays under API Gateway's 30 s.
   */
  timeout: Duration.seconds(10),
} as const;

export const MAX_REDIS_TIMEOUT_MS = 2500;

const SEMVER_SHIM = path.join(PROJECT_ROOT, 'infra', 'shims', 'semver.cjs');

/** Makes an ESM bundle able to `require` Node built-ins from bundled CommonJS (jsonwebtoken). */
const ESM_REQUIRE_SHIM = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

/**
 * How esbuild bundles every function (NodejsFunction's `bundling`), exported so that the
 * benchmarks build exactly the same bundles. `esbuildArgs` aliases `semver` to the stand-in.
 */
export const BUNDLING = {
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  format: OutputFormat.ESM,
  target: 'node24',
  mainFields: ['module', 'main'],
  externalModules: ['@aws-sdk/*'],
  banner: ESM_REQUIRE_SHIM,
  forceDockerBundling: false,
  // jsonwebtoken loads all of semver for three version checks that always hold on Node 24.
  esbuildArgs: { '--alias:semver': SEMVER_SHIM },
} satisfies BundlingOptions;

/**
 * The script files a function ships: its route's, and the gate (the preamble of every script
 * behind which a token is admitted) when the route takes a token; none for /health, /ready and
 * the fallback.
 */
export function scriptsToShip(route: Pick<Route, 'scopes' | 'scripts'>): ScriptFile[] {
  return route.scopes === undefined ? [...route.scripts] : [...new Set<ScriptFile>([...route.scripts, 'gate'])];
}

let assembledDir: string | undefined;

/**
 * Every script assembled (lib/store/lua.ts assembleScript), written once per process to
 * <tmp>/biz-service-lua-<hash of their text>/<name>.lua, for the bundling hooks to copy from. The
 * folder is named after what it holds, so a synth reuses the one an earlier synth of the same Lua
 * wrote, and a changed script gets a folder of its own; it is written aside and renamed into
 * place, so a synth running at the same time never reads half of it.
 */
export function assembledScriptsDir(): string {
  if (assembledDir !== undefined) return assembledDir;
  const texts = SCRIPT_FILES.map((name) => [name, assembleScript(name)] as const);
  const hash = createHash('sha256');
  for (const [name, text] of texts) hash.update(`${name}\0${text}\0`);
  const dir = path.join(tmpdir(), `biz-service-lua-${hash.digest('hex').slice(0, 16)}`);
  if (!existsSync(dir)) {
    const writing = `${dir}.${process.pid}.${Date.now()}`;
    mkdirSync(writing, { recursive: true });
    for (const [name, text] of texts) writeFileSync(path.join(writing, `${name}.lua`), text);
    try {
      renameSync(writing, dir);
    } catch (error) {
      // Another synth put the same folder in place first: its files are these.
      rmSync(writing, { recursive: true, force: true });
      if (!existsSync(dir)) throw error;
    }
  }
  assembledDir = dir;
  return dir;
}

const shellQuote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;

/**
 * NodejsFunction's command hooks that put the function's assembled scripts in `lua/` beside its
 * index.mjs, where the store's loader reads them (lib/store/lua.ts reads `./lua/` beside the
 * module, which in a bundle is index.mjs). The asset hash is taken of the output folder, so a
 * changed script changes the asset and redeploys the functions that ship it. Docker bundling
 * (never used: esbuild is installed locally) cannot see the folder the scripts are written to,
 * and fails rather than build a function without its scripts.
 */
export function scriptHooks(scripts: readonly ScriptFile[], console = false): NonNullable<BundlingOptions['commandHooks']> {
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir, outputDir) => {
      if (scripts.length === 0 && !console) return [];
      if (outputDir === AssetStaging.BUNDLING_OUTPUT_DIR)
        return ['echo "the functions ship files built on the host: bundle with the local esbuild, not Docker" >&2', 'exit 1'];
      const commands: string[] = [];
      if (scripts.length > 0) {
        const from = assembledScriptsDir();
        const lua = path.join(outputDir, 'lua');
        commands.push(
          `mkdir -p ${shellQuote(lua)} && cp ${scripts.map((name) => shellQuote(path.join(from, `${name}.lua`))).join(' ')} ${shellQuote(lua)}/`,
        );
      }
      // The console's page, script and stylesheet (console/build.ts), read by lib/http/console.ts.
      if (console) commands.push(`cp -R ${shellQuote(consoleBuildDir())} ${shellQuote(path.join(outputDir, 'console'))}`);
      return commands;
    },
  };
}

export interface ServiceFunctionProps {
  /** Handler file under functions/, without extension. */
  readonly handler: string;
  /** The store's script files its bundle ships (scriptsToShip of its route); none: no lua/ folder. */
  readonly scripts: readonly ScriptFile[];
  readonly description: string;
  readonly environment: Record<string, string>;
  readonly logRetention: RetentionDays;
  /** The route serves the console (Route.console): its bundle ships the built console in console/. */
  readonly console?: boolean | undefined;
  /** Reserved concurrency (a cap and a guaranteed share of the account); undefined: none. */
  readonly reservedConcurrency?: number | undefined;
  /** The route's own timeout (Route.timeoutSeconds); undefined: FUNCTION_DEFAULTS.timeout. */
  readonly timeoutSeconds?: number | undefined;
}

export class ServiceFunction extends Construct {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;
  readonly alarm: Alarm;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // Its own role instead of AWSLambdaBasicExecutionRole: it may write to its own log group only.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs the ${props.handler} function`,
    });
    this.role.addToPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    this.function = new NodejsFunction(this, 'Function', {
      entry: path.join(PROJECT_ROOT, 'functions', `${props.handler}.ts`),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      description: props.description,
      runtime: FUNCTION_DEFAULTS.runtime,
      architecture: FUNCTION_DEFAULTS.architecture,
      memorySize: FUNCTION_DEFAULTS.memorySize,
      timeout: props.timeoutSeconds === undefined ? FUNCTION_DEFAULTS.timeout : Duration.seconds(props.timeoutSeconds),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'biz-service',
        ...props.environment,
      },
      bundling: { ...BUNDLING, commandHooks: scriptHooks(props.scripts, props.console === true) },
      ...(props.reservedConcurrency === undefined ? {} : { reservedConcurrentExecutions: props.reservedConcurrency }),
    });

    // Errors (crashes, timeouts, failed cold starts) or throttles in any 5-minute period.
    this.alarm = new Alarm(this, 'ErrorsOrThrottles', {
      alarmDescription: `${props.handler}: Lambda errors or throttles`,
      metric: new MathExpression({
        expression: 'errors + throttles',
        usingMetrics: {
          errors: this.function.metricErrors({ period: Duration.minutes(5) }),
          throttles: this.function.metricThrottles({ period: Duration.minutes(5) }),
        },
        label: 'Errors + Throttles',
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}
