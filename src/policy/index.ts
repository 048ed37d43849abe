/** The policy module's public surface: templates, mappings, grants and evaluation. */
export { policyDocumentSchema, statementSchema } from './document.js';
export type { Grant, GrantReason, PolicyDocument, PolicyStatement, RoleChoice } from './types.js';
export {
  checkPolicyTemplate,
  PolicyTemplateError,
  renderPolicyTemplate,
  type RenderOptions,
} from './templates.js';
export { matchesGroupPattern, resolveGrants, selectRole } from './mappings.js';
export {
  buildGrant,
  MAX_SESSION_POLICY_LENGTH,
  MIN_SESSION_DURATION,
  validateDuration,
  validateSessionName,
  validateSessionPolicy,
  type GrantRequest,
} from './grants.js';
export {
  evaluatePolicies,
  evaluateSession,
  validatePolicyForEvaluation,
  type AuthorizationRequest,
  type ContextScalar,
  type ContextValue,
  type DecidingStatement,
  type Decision,
  type PolicyProblem,
  type PolicySet,
  type RequestContext,
} from './evaluate.js';
