/**
 * The embedded development OpenID provider (`devIdp.enabled`, what `npm start` signs in with) and the
 * tests' real IdP. See provider.ts for what it is, from-config.ts for how the app wires it.
 */
export { devIdpBannerLines, devIdpWorkloadCommands } from './banner.js';
export {
  createDevIdpFromConfig,
  DEV_IDP_MOUNT_PATH,
  devIdpOptionsFromConfig,
  mountDevIdp,
} from './from-config.js';
export {
  BROWSER_CLIENT_ID,
  createDevIdentityProvider,
  resourceIndicatorFor,
  WORKLOAD_CLIENT_ID,
  WORKLOAD_GROUPS,
} from './provider.js';
export type { DevIdentityProvider, DevIdentityProviderOptions } from './provider.js';
export { DEMO_USERS } from './users.js';
export type { DemoUser } from './users.js';
