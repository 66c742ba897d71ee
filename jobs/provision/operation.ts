/** The provision job's name: its broker job name and its `operations.operation`. A file of its own, so the API can name it without loading the steps. */
export const PROVISION_OPERATION = "provision";
