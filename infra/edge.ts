/**
 * The optional edge (context `edgeWaf`): a CloudFront distribution in front of the HTTP API
 * with a WAF web ACL, because HTTP APIs cannot have a web ACL of their own. The stack's ACL
 * blocks an IP address beyond `wafRateLimitPer5Min` requests in five minutes (429, JSON, with
 * Retry-After) before the request reaches API Gateway or a function; an ACL passed in with
 * `webAclArn` brings its own rules. Nothing is cached: every request goes to the API.
 */
import { Duration, Fn, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HttpVersion,
  OriginProtocolPolicy,
  OriginRequestPolicy,
  OriginSslPolicy,
  SecurityPolicyProtocol,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

export interface EdgeProps {
  readonly api: HttpApi;
  /** An existing CLOUDFRONT-scope web ACL; undefined: the edge creates one. */
  readonly webAclArn: string | undefined;
  /** Requests per IP address per 5 minutes, for the web ACL the edge creates. */
  readonly rateLimitPer5Min: number;
  /** How long CloudFront's access logs are kept, in days. */
  readonly logRetentionDays: number;
  /** Served by CloudFront instead of API Gateway; the certificate must be in us-east-1. */
  readonly domain?: { readonly name: string; readonly certificateArn: string } | undefined;
}

/** The body of the 429 the rate rule answers, in the API's own error format. */
export const EDGE_RATE_LIMITED_BODY = {
  error: 'rate_limited',
  error_description: 'too many requests from this address; retry later',
} as const;

/** Seconds the rate rule tells a blocked caller to wait (WAF re-evaluates the rate continuously). */
export const EDGE_RETRY_AFTER_SECONDS = 60;

export class Edge extends Construct {
  readonly distribution: Distribution;
  readonly webAclArn: string;
  readonly logBucket: Bucket;

  constructor(scope: Construct, id: string, props: EdgeProps) {
    super(scope, id);
    const { stackName } = Stack.of(this);

    if (props.webAclArn !== undefined) {
      this.webAclArn = props.webAclArn;
    } else {
      const acl = new CfnWebACL(this, 'WebAcl', {
        name: `${stackName}-edge`,
        description: 'biz-service: per-IP rate limit in front of the API',
        scope: 'CLOUDFRONT',
        defaultAction: { allow: {} },
        visibilityConfig: { cloudWatchMetricsEnabled: true, metricName: `${stackName}-edge`, sampledRequestsEnabled: true },
        customResponseBodies: {
          'rate-limited': { contentType: 'APPLICATION_JSON', content: JSON.stringify(EDGE_RATE_LIMITED_BODY) },
        },
        rules: [
          {
            name: 'RateLimitPerIp',
            priority: 0,
            statement: { rateBasedStatement: { aggregateKeyType: 'IP', limit: props.rateLimitPer5Min, evaluationWindowSec: 300 } },
            action: {
              block: {
                customResponse: {
                  responseCode: 429,
                  customResponseBodyKey: 'rate-limited',
                  responseHeaders: [
                    { name: 'Retry-After', value: String(EDGE_RETRY_AFTER_SECONDS) },
                    { name: 'Cache-Control', value: 'no-store' },
                  ],
                },
              },
            },
            visibilityConfig: {
              cloudWatchMetricsEnabled: true,
              metricName: `${stackName}-rate-limit-per-ip`,
              sampledRequestsEnabled: true,
            },
          },
        ],
      });
      this.webAclArn = acl.attrArn;
    }

    // CloudFront's standard logs: the caller's own IP address, which the API's access log no
    // longer sees behind CloudFront. Standard logging writes with ACLs, hence OBJECT_WRITER.
    this.logBucket = new Bucket(this, 'Logs', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.OBJECT_WRITER,
      lifecycleRules: [{ expiration: Duration.days(props.logRetentionDays) }],
      // Kept with its logs when the stack goes (docs/deploy.md, "Tearing down").
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.logBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket holds the CloudFront access logs; logging the access to a log bucket into yet another bucket only moves the question one bucket further.',
    });

    // The API's default endpoint, https://<id>.execute-api.<region>.amazonaws.com: its host name.
    const originHost = Fn.select(2, Fn.split('/', props.api.apiEndpoint));
    const { domain } = props;
    this.distribution = new Distribution(this, 'Distribution', {
      comment: `${stackName}: biz-service API behind WAF`,
      defaultBehavior: {
        origin: new HttpOrigin(originHost, {
          protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
          originSslProtocols: [OriginSslPolicy.TLS_V1_2],
        }),
        allowedMethods: AllowedMethods.ALLOW_ALL,
        // Nothing is cached, and every viewer header but Host (API Gateway routes by its own
        // host name) reaches the API: Authorization included.
        cachePolicy: CachePolicy.CACHING_DISABLED,
        originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        // A redirect would turn a POST into a GET; plain HTTP is refused instead.
        viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
      },
      httpVersion: HttpVersion.HTTP2_AND_3,
      webAclId: this.webAclArn,
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: 'cloudfront/',
      ...(domain === undefined
        ? {}
        : {
            domainNames: [domain.name],
            certificate: Certificate.fromCertificateArn(this, 'Certificate', domain.certificateArn),
            minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021,
          }),
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason:
        'Agents may run in any country; the per-IP rate rule and the tokens are the controls. An operator who knows where the fleet runs can add a geo rule to the web ACL.',
    });
    if (domain === undefined) {
      Validations.of(this.distribution).acknowledge({
        id: 'AwsSolutions-CFR4',
        reason:
          'Without domainName the distribution serves the default *.cloudfront.net certificate, whose security policy CloudFront fixes (TLSv1); set domainName and a us-east-1 certificateArn to get TLSv1.2_2021.',
      });
    }
  }
}
