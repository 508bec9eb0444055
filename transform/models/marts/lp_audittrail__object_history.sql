{#-
  Each object's changes in order, each valid from its instant until the object's next change
  (valid_to, null for the latest), and its property's value until that property's next change
  (value_valid_to).
-#}

select
    change_id,
    object_id,
    object_type,
    audited_element,
    object_name,
    object_change_number,
    element,
    is_field_change,
    action_type,
    old_value,
    new_value,
    changed_at as valid_from,
    next_object_change_at as valid_to,
    is_latest_object_change as is_current,
    element_change_number,
    next_element_change_at as value_valid_to,
    is_latest_element_change as is_current_value,
    originator,
    originator_login_name,
    originator_user_id,
    originator_is_lpa
from {{ ref('int_lp_audittrail__object_changes') }}
