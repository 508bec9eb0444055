{#-
  Each object's changes in the one order of all models, each valid from its instant until the
  object's next change (valid_to, null for the latest). What a property held at an instant is
  lp_audittrail__property_history's to answer: it ends values at deletions too.
-#}

select
    change_id,
    change_order,
    object_id,
    object_type,
    audited_element,
    object_name,
    current_object_name,
    object_change_number,
    element,
    is_field_change,
    is_object_deletion,
    is_rename,
    action,
    action_type,
    old_value,
    new_value,
    changed_at as valid_from,
    next_object_change_at as valid_to,
    is_latest_object_change as is_current,
    originator,
    originator_login_name,
    originator_user_id,
    originator_is_lpa,
    originator_kind
from {{ ref('int_lp_audittrail__object_changes') }}
